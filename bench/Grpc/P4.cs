using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Bench.Grpc.V1;

namespace Trellis.Bench.Grpc;

/// <summary>
/// P4: gRPC unary on grpc-dotnet (a tiny echo service) against a plain Kestrel h2c endpoint that returns the same bytes
/// and the same grpc-status trailer, both driven by h2load with one pre-framed request body (the aspnet/Benchmarks
/// GrpcUnary-h2load method). The ratio is the gRPC framework's cost over Kestrel's HTTP/2 itself.
/// </summary>
public static partial class P4
{
    private const string EchoPath = "/trellis.bench.v1.Echo/Say";
    private const string RawPath = "/trellis.bench.v1.Raw/Say";

    public static async Task<int> RunAsync(string[] args)
    {
        var requests = Option(args, "--p4-requests", 200_000);
        var clients = Option(args, "--p4-clients", 4);
        var streams = Option(args, "--p4-streams", 16);
        if (!File.Exists("/usr/bin/h2load"))
        {
            Console.WriteLine("P4 grpc-unary/kestrel-h2c: h2load not found; install it with: apt-get install -y nghttp2-client");
            return 1;
        }

        var request = new StringValue { Value = "hello trellis" };
        var body = Framed(request);
        var bodyFile = Path.Combine(Path.GetTempPath(), $"trellis-p4-{Environment.ProcessId}.bin");
        await File.WriteAllBytesAsync(bodyFile, body);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        ListenOptions? listen = null;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, options =>
        {
            options.Protocols = HttpProtocols.Http2;
            listen = options;
        }));
        await using var app = builder.Build();
        app.MapGrpcService<EchoService>();

        // The baseline: read the request body, answer with the framed reply bytes and grpc-status 0, nothing else.
        var reply = Framed(request);
        app.MapPost(RawPath, async (HttpContext context) =>
        {
            var reader = context.Request.BodyReader;
            while (true)
            {
                var result = await reader.ReadAsync();
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            context.Response.ContentType = "application/grpc";
            context.Response.AppendTrailer("grpc-status", "0");
            await context.Response.BodyWriter.WriteAsync(reply);
        });

        await app.StartAsync();
        try
        {
            var port = listen!.IPEndPoint!.Port;
            var address = $"http://127.0.0.1:{port}";
            using (var channel = GrpcChannel.ForAddress(address))
            {
                var echoed = await new Echo.EchoClient(channel).SayAsync(request);
                if (echoed.Value != request.Value)
                {
                    throw new InvalidOperationException($"P4 echo returned '{echoed.Value}'.");
                }
            }

            Func<Task<double>> Run(string path) => () => H2LoadAsync($"{address}{path}", bodyFile, requests, clients, streams);
            var (ours, raw) = await Harness.InterleaveAsync(Run(EchoPath), Run(RawPath));
            Console.WriteLine(
                $"P4 grpc-unary/kestrel-h2c: ours={Harness.Fmt(ours)} req/s raw={Harness.Fmt(raw)} req/s ratio={ours / raw:0.00}x " +
                $"(goal >= 0.8x; h2load -n {requests} -c {clients} -m {streams}, median of {Harness.Rounds} interleaved rounds)");
            return 0;
        }
        finally
        {
            await app.StopAsync();
            File.Delete(bodyFile);
        }
    }

    /// <summary>A message in gRPC's length-prefixed framing: a zero compressed-flag byte, the length big-endian, the bytes.</summary>
    private static byte[] Framed(IMessage message)
    {
        var payload = message.ToByteArray();
        var frame = new byte[5 + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    /// <summary>Echoes the request.</summary>
    private sealed class EchoService : Echo.EchoBase
    {
        public override Task<StringValue> Say(StringValue request, ServerCallContext context) => Task.FromResult(request);
    }

    private static async Task<double> H2LoadAsync(string url, string bodyFile, int requests, int clients, int streams)
    {
        var info = new ProcessStartInfo("/usr/bin/h2load")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            "-n", requests.ToString(CultureInfo.InvariantCulture), "-c", clients.ToString(CultureInfo.InvariantCulture),
            "-m", streams.ToString(CultureInfo.InvariantCulture), "-H", "content-type: application/grpc", "-H", "te: trailers",
            "-d", bodyFile, url,
        })
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start h2load.");
        var stdout = await process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        var rate = RateLine().Match(stdout);
        var done = StatusLine().Match(stdout);
        if (process.ExitCode != 0 || !rate.Success || !done.Success)
        {
            throw new InvalidOperationException($"h2load failed ({process.ExitCode}): {stdout} {stderr}");
        }

        var succeeded = long.Parse(done.Groups["ok"].Value, CultureInfo.InvariantCulture);
        if (succeeded != requests)
        {
            throw new InvalidOperationException($"h2load against {url}: only {succeeded} of {requests} requests succeeded. {stdout}");
        }

        return double.Parse(rate.Groups["rate"].Value, CultureInfo.InvariantCulture);
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    [GeneratedRegex(@"finished in [\d.]+\w+, (?<rate>[\d.]+) req/s")]
    private static partial Regex RateLine();

    [GeneratedRegex(@"requests: \d+ total, \d+ started, \d+ done, (?<ok>\d+) succeeded")]
    private static partial Regex StatusLine();
}
