using Grpc.Core;
using Trellis.Contracts.V1;

namespace Trellis.Api.Edge.Link;

/// <summary>The gateway's side of device links (trellis.v1.Edge/Link).</summary>
public sealed class EdgeLinks
{
    /// <summary>Serves one device's link until it ends.</summary>
    public Task RunAsync(IAsyncStreamReader<DeviceMessage> requestStream, IServerStreamWriter<LinkMessage> responseStream, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, "device links are not served yet"));
}
