using System.Text.Json.Nodes;

namespace Trellis.Flows.Discovery;

/// <summary>A participant as it announces itself on the <c>fbp</c> queue
/// (<c>{"protocol":"discovery","command":"participant","payload":{…}}</c>), exactly as msgflo reads it.</summary>
/// <param name="Id">Unique per instance (msgflo-nodejs uses <c>&lt;role&gt;-&lt;uuid&gt;</c>).</param>
/// <param name="Role">The graph node it plays; several instances of one role share its inqueues.</param>
/// <param name="Heartbeat">How long after its last announcement it counts as gone: its own
/// <c>payload.heartbeat</c> in seconds when it declares one, else the coordinator's default (600 s).</param>
/// <param name="Payload">The payload as received (what is listed and given to FBP clients).</param>
public sealed record ParticipantDefinition(
    string Id,
    string Role,
    string Component,
    string? Label,
    string? Icon,
    IReadOnlyList<ParticipantPort> Inports,
    IReadOnlyList<ParticipantPort> Outports,
    TimeSpan? Heartbeat,
    JsonObject Payload)
{
    /// <summary>The inport with this id, compared without case (graphs fold port names to lower case).</summary>
    public ParticipantPort? FindInport(string port) => Find(Inports, port);

    public ParticipantPort? FindOutport(string port) => Find(Outports, port);

    private static ParticipantPort? Find(IReadOnlyList<ParticipantPort> ports, string port)
    {
        foreach (var p in ports)
        {
            if (string.Equals(p.Id, port, StringComparison.OrdinalIgnoreCase))
            {
                return p;
            }
        }

        return null;
    }
}

/// <summary>A port of a participant. <see cref="Queue"/> is null for a hidden port, which cannot be wired.</summary>
public sealed record ParticipantPort(string Id, string? Queue, string? Type = null, string? Description = null, bool Persistent = true);
