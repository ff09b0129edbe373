using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Grpc.Client;
using Trellis.Grpc.Server;

namespace Trellis.Grpc.Tests.Infrastructure;

/// <summary>A real Kestrel server on 127.0.0.1 with an h2c (gRPC) port and an HTTP/1.1 (REST) port, both picked by the OS.</summary>
public sealed class GrpcTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GrpcTestHost(WebApplication app, TestLogSink logs, Uri grpcAddress, Uri httpAddress)
    {
        _app = app;
        Logs = logs;
        GrpcAddress = grpcAddress;
        HttpAddress = httpAddress;
        Channel = GrpcChannel.ForAddress(grpcAddress);
        RawHttp2 = new HttpClient(new SocketsHttpHandler()) { BaseAddress = grpcAddress };
        Http1 = new HttpClient(new SocketsHttpHandler()) { BaseAddress = httpAddress };
    }

    public Uri GrpcAddress { get; }

    public Uri HttpAddress { get; }

    public TestLogSink Logs { get; }

    /// <summary>Our client, on the gRPC port.</summary>
    public GrpcChannel Channel { get; }

    /// <summary>A plain HttpClient for hand-made HTTP/2 requests on the gRPC port.</summary>
    public HttpClient RawHttp2 { get; }

    /// <summary>A plain HttpClient on the HTTP/1.1 port.</summary>
    public HttpClient Http1 { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<GrpcTestHost> StartAsync(
        Action<IEndpointRouteBuilder> map,
        Action<GrpcServerOptions>? configure = null,
        Action<IServiceCollection>? services = null)
    {
        var logs = new TestLogSink();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        ListenOptions? grpcListen = null;
        ListenOptions? httpListen = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                grpcListen = listen;
            });
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                httpListen = listen;
            });
        });
        builder.Services.AddGrpcServer(configure);
        services?.Invoke(builder.Services);
        var app = builder.Build();
        map(app);
        await app.StartAsync(TestContext.Current.CancellationToken);

        // Kestrel writes the bound endpoint (with the OS-chosen port) back into the listen options.
        var grpcAddress = new Uri($"http://127.0.0.1:{grpcListen!.IPEndPoint!.Port}");
        var httpAddress = new Uri($"http://127.0.0.1:{httpListen!.IPEndPoint!.Port}");
        if (grpcListen.IPEndPoint.Port == 0 || httpListen.IPEndPoint.Port == 0)
        {
            throw new InvalidOperationException("Kestrel did not report the bound ports.");
        }

        return new GrpcTestHost(app, logs, grpcAddress, httpAddress);
    }

    /// <summary>Fails when anything was logged at Error level apart from entries the test expected.</summary>
    public void AssertNoErrorLogs(Func<TestLogSink.LogEntry, bool>? expected = null)
    {
        var unexpected = Logs.Errors.Where(e => expected is null || !expected(e)).ToList();
        Assert.True(unexpected.Count == 0, "Unexpected error logs: " + string.Join(" | ", unexpected.Select(static e => $"{e.Category}: {e.Message} {e.Exception}")));
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        RawHttp2.Dispose();
        Http1.Dispose();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
