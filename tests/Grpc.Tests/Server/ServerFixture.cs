using Trellis.Grpc.Server;
using Trellis.Grpc.Tests.Infrastructure;

namespace Trellis.Grpc.Tests.Server;

/// <summary>One server with the test service for a whole test class.</summary>
public class ServerFixture : IAsyncLifetime
{
    public GrpcTestHost Host { get; private set; } = null!;

    public TesterService.Observations Observations { get; } = new();

    protected virtual void Configure(GrpcServerOptions options)
    {
    }

    public async ValueTask InitializeAsync()
    {
        Host = await GrpcTestHost.StartAsync(endpoints => endpoints.MapGrpcService(TesterService.Create(Observations)), Configure);
    }

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();
}
