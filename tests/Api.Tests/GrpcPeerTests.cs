using System.Diagnostics;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;

namespace Trellis.Api.Tests;

/// <summary>Real gRPC peers against the gateway's gRPC API: python3-grpcio (tests/Interop/grpc/client.py) and Node.js
/// @grpc/grpc-js (tests/Interop/node/client.js). Each becomes a node on a Connect stream, calls unary methods, sees an
/// error status with its message and a deadline, and prints one JSON line per check. A missing peer fails the test.</summary>
public sealed class GrpcPeerTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private static readonly string[] Checks = ["connect", "unary", "get_node", "signal", "error_status", "unauthenticated", "deadline", "stream_end"];

    [Fact]
    public async Task Python_grpcio_uses_the_api_as_a_stream_node()
    {
        const string Python = "/usr/bin/python3";
        const string Hint = "apt-get install -y python3-grpcio python3-protobuf (scripts/deps.sh installs them)";
        Assert.True(File.Exists(Python), $"{Python} is missing: {Hint}");
        var probe = await RunAsync(Python, ["-c", "import grpc, google.protobuf"], TimeSpan.FromSeconds(30));
        Assert.True(probe.ExitCode == 0, $"{Python} cannot import grpc: {probe.Stderr.Trim()}. {Hint}");

        var descriptors = Path.Combine(Path.GetTempPath(), $"trellis-v1-{Guid.NewGuid():N}.pb");
        await File.WriteAllBytesAsync(descriptors, DescriptorSet(), TestContext.Current.CancellationToken);
        try
        {
            var script = Path.Combine(AppContext.BaseDirectory, "Interop", "grpc", "client.py");
            Assert.True(File.Exists(script), $"{script} was not copied to the test output");
            var run = await RunAsync(Python, [script, "--address", Authority, "--descriptors", descriptors], TimeSpan.FromSeconds(90));
            AssertChecks("python3-grpcio", run);
        }
        finally
        {
            File.Delete(descriptors);
        }
    }

    [Fact]
    public async Task Node_grpc_js_uses_the_api_as_a_stream_node()
    {
        var dir = Path.Combine(RepoRoot(), "tests", "Interop", "node");
        const string Hint = "run scripts/deps.sh (apt-get install -y nodejs npm; npm ci in tests/Interop/node)";
        var version = await RunAsync("node", ["--version"], TimeSpan.FromSeconds(30), allowMissing: true);
        Assert.True(version.ExitCode == 0, $"node is missing: {Hint}");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "@grpc", "grpc-js")), $"@grpc/grpc-js is not installed in {dir}: {Hint}");
        var run = await RunAsync("node", [Path.Combine(dir, "client.js"), "--address", Authority, "--protos", Path.Combine(RepoRoot(), "protos")], TimeSpan.FromSeconds(90));
        AssertChecks("@grpc/grpc-js", run);
    }

    private string Authority => $"{_gateway.GrpcAddress!.Host}:{_gateway.GrpcAddress.Port}";

    private static void AssertChecks(string peer, (int ExitCode, string Stdout, string Stderr) run)
    {
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(l => JsonNode.Parse(l)!).ToList();
        var context = $"{peer} (exit {run.ExitCode})\nstdout:\n{run.Stdout}\nstderr:\n{run.Stderr}";
        Assert.True(run.ExitCode == 0, context);
        Assert.True(lines.Count > 0 && (bool?)lines[^1]["done"] == true, $"{peer} did not finish: {context}");
        foreach (var check in Checks)
        {
            var line = lines.Find(l => (string?)l["check"] == check);
            Assert.True(line is not null, $"{peer} did not report the check {check}: {context}");
            Assert.True((bool)line["ok"]!, $"{peer}: check {check} failed: {line.ToJsonString()}\n{context}");
        }
    }

    /// <summary>The FileDescriptorSet of protos/trellis/v1 and their imports, from the descriptors compiled into Trellis.Contracts.</summary>
    private static byte[] DescriptorSet()
    {
        var set = new FileDescriptorSet();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(FileDescriptor file)
        {
            if (!seen.Add(file.Name))
            {
                return;
            }

            foreach (var dependency in file.Dependencies)
            {
                Add(dependency);
            }

            set.File.Add(FileDescriptorProto.Parser.ParseFrom(file.SerializedData));
        }

        Add(NodesReflection.Descriptor);
        Add(MessagingReflection.Descriptor);
        return set.ToByteArray();
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cluster.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Cluster.sln above {AppContext.BaseDirectory}");
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, string[] arguments, TimeSpan timeout, bool allowMissing = false)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // Loopback calls must not go through a proxy from the environment.
        info.Environment["no_proxy"] = "127.0.0.1,localhost";
        info.Environment["NO_PROXY"] = "127.0.0.1,localhost";
        info.Environment.Remove("http_proxy");
        info.Environment.Remove("https_proxy");
        info.Environment.Remove("grpc_proxy");
        info.Environment["PYTHONIOENCODING"] = "utf-8";
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        }
        catch (System.ComponentModel.Win32Exception) when (allowMissing)
        {
            return (-1, "", $"{file} is not installed");
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            cts.CancelAfter(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"'{file} {string.Join(' ', arguments)}' did not finish within {timeout.TotalSeconds} s. stdout: {await stdout} stderr: {await stderr}");
            }

            return (process.ExitCode, await stdout, await stderr);
        }
    }
}
