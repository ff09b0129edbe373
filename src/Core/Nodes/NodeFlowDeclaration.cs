namespace Trellis.Core.Nodes;

/// <summary>What a node declared at registration to take part in flows as a MsgFlo participant: kept in its
/// <see cref="NodeRecord"/> so the gateway wires it again after a restart.</summary>
/// <param name="Role">The participant's role (it names the queues <c>&lt;role&gt;.&lt;PORT&gt;</c>); null means the node id.</param>
/// <param name="Component">The component announced on <c>fbp</c>; null means the role.</param>
public sealed record NodeFlowDeclaration(
    string? Role,
    string? Component,
    IReadOnlyList<NodeFlowPortDeclaration> Inports,
    IReadOnlyList<NodeFlowPortDeclaration> Outports);

/// <summary>One declared port of a node.</summary>
/// <param name="Id">The port id as declared.</param>
/// <param name="Path">For an inport, the callback path its messages are POSTed to; null for an outport.</param>
/// <param name="Announced">The port's other declared fields (<c>type</c>, <c>description</c>, …) as a JSON object text, or null.</param>
public sealed record NodeFlowPortDeclaration(string Id, string? Path, string? Announced);
