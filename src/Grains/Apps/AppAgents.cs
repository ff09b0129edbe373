using Trellis.Core.Bus;
using Trellis.Core.Errors;

namespace Trellis.Grains.Apps;

/// <summary>The agents apps can run: .NET agents registered by name, and remote agents served by nodes.</summary>
/// <remarks>An agent name registered here runs in the silo; any other name is looked for as the remote service
/// <c>trellis.agents.&lt;name&gt;</c>, so registering a node with that service makes it the agent.</remarks>
public sealed class AppAgents
{
    private readonly Dictionary<string, IAgent> _local = new(StringComparer.Ordinal);

    /// <summary>The names of the .NET agents.</summary>
    public IReadOnlyCollection<string> Names => _local.Keys;

    /// <summary>How long a remote agent may take for one event.</summary>
    public TimeSpan RemoteTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public AppAgents Add(string name, IAgent agent)
    {
        ValidateName(name);
        ArgumentNullException.ThrowIfNull(agent);
        _local[name] = agent;
        return this;
    }

    /// <summary>The agent for <paramref name="name"/>: the .NET one, else the remote one on <paramref name="bus"/>.</summary>
    public IAgent Resolve(string name, MessageBus bus) =>
        _local.TryGetValue(name, out var agent) ? agent : new RemoteAgent(bus, name, RemoteTimeout);

    public static string ValidateName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 64 || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_' or '.'))
        {
            throw TrellisException.Invalid($"agent '{name}' must be 1 to 64 characters of a-z, 0-9, '-', '_' and '.'");
        }

        return name;
    }
}
