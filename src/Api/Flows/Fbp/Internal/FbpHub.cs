using System.Collections.Concurrent;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>The sessions of this process, so an edit made in one reaches the others watching the same graph (as msgflo
/// sends every graph change to every client): two IDEs on one graph see each other's edits. In-process only: sessions
/// connected to other gateways do not hear of it.</summary>
internal sealed class FbpHub
{
    private readonly ConcurrentDictionary<FbpSession, byte> _sessions = new();

    public void Join(FbpSession session) => _sessions.TryAdd(session, 0);

    public void Leave(FbpSession session) => _sessions.TryRemove(session, out _);

    /// <summary>Pushes one frame (a reply without <c>responseTo</c>) to every session but <paramref name="from"/> that
    /// watches <paramref name="graph"/>; a session too far behind drops it, as with any pushed event.</summary>
    public void Broadcast(FbpSession from, string graph, string protocol, string command, System.Text.Json.Nodes.JsonNode? payload)
    {
        byte[]? frame = null;
        foreach (var session in _sessions.Keys)
        {
            if (!ReferenceEquals(session, from) && session.Watches(graph))
            {
                frame ??= FbpMessage.Serialize(protocol, command, payload?.DeepClone(), null); // the reply holds the payload node
                session.PushFrame(frame, protocol, command);
            }
        }
    }
}
