using System.Diagnostics;

namespace Trellis.Grpc.Tests.Interop;

/// <summary>Runs the real grpcio peer: checks it is installed, generates _pb2 modules with protoc, starts the scripts.</summary>
public sealed class PythonPeer : IAsyncLifetime
{
    /// <summary>Debian's interpreter: a pyenv python3 on PATH cannot see the python3-grpcio package.</summary>
    public const string Python = "/usr/bin/python3";

    private const string InstallHint =
        "The interop tests need real grpcio peers: apt-get install -y python3-grpcio python3-protobuf protobuf-compiler (the test script installs them).";

    public string GeneratedDir { get; } = Path.Combine(Path.GetTempPath(), "trellis-grpc-interop-" + Guid.NewGuid().ToString("N"));

    public static string ScriptDir => Path.Combine(AppContext.BaseDirectory, "Interop");

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(GeneratedDir);
        if (!File.Exists(Python))
        {
            Assert.Fail($"{Python} is missing. {InstallHint}");
        }

        var probe = await RunAsync(Python, ["-c", "import grpc, google.protobuf; print(grpc.__version__)"], TimeSpan.FromSeconds(30));
        Assert.True(probe.ExitCode == 0, $"{Python} cannot import grpc: {probe.Stderr.Trim()} {InstallHint}");

        var protos = Path.Combine(AppContext.BaseDirectory, "Protos");
        var protoc = await RunAsync("protoc", ["-I", protos, "--python_out=" + GeneratedDir, Path.Combine(protos, "tester.proto"), Path.Combine(protos, "health.proto")], TimeSpan.FromSeconds(30));
        Assert.True(protoc.ExitCode == 0, $"protoc failed ({protoc.ExitCode}): {protoc.Stderr.Trim()} {InstallHint}");
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(GeneratedDir, recursive: true);
        return ValueTask.CompletedTask;
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> arguments, TimeSpan timeout)
    {
        using var process = Start(file, arguments, redirectInput: false);
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
            Assert.Fail($"'{file} {string.Join(' ', arguments)}' did not finish within {timeout.TotalSeconds} s. Output so far: {await stderr}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    public static Process Start(string file, IEnumerable<string> arguments, bool redirectInput)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // grpcio must not pick up a proxy from the environment for loopback calls.
        info.Environment["no_proxy"] = "127.0.0.1,localhost";
        info.Environment["NO_PROXY"] = "127.0.0.1,localhost";
        info.Environment["PYTHONIOENCODING"] = "utf-8";
        return Process.Start(info) ?? throw new InvalidOperationException($"Could not start {file}.");
    }
}
