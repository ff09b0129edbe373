namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>A request the protocol layer refuses (a missing or mistyped field, an unknown command): answered with an
/// <c>error</c> message on the request's protocol, the connection kept.</summary>
internal sealed class FbpProtocolException(string message) : Exception(message);
