using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using Trellis.TestKit;

namespace Trellis.Docs.Tests;

/// <summary>The all-in-one process a reader starts with <c>dotnet run --project src/Silo</c>: the built
/// <c>Trellis.Silo.dll</c> with no configuration but free loopback ports and a data directory of its own.</summary>
/// <remarks>It runs under a small <c>sh</c> watchdog that SIGKILLs it when the test process is gone, so a test host killed
/// by a hang timeout leaves no silo behind.</remarks>
public sealed class AllInOne : IAsyncDisposable
{
    private const string Watchdog =
        "dotnet \"$0\" & silo=$!; " +
        "while kill -0 \"$1\" 2>/dev/null && kill -0 $silo 2>/dev/null; do sleep 1; done; " +
        "kill -9 $silo 2>/dev/null; wait $silo";

    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private AllInOne(Process process, string directory, int httpPort, int grpcPort)
    {
        _process = process;
        Directory = directory;
        HttpPort = httpPort;
        GrpcPort = grpcPort;
    }

    /// <summary>Its working directory, holding its SQLite file.</summary>
    public string Directory { get; }

    public int HttpPort { get; }

    public int GrpcPort { get; }

    /// <summary>What the process printed so far.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts the silo and waits until <c>/readyz</c> answers 200.</summary>
    public static async Task<AllInOne> StartAsync()
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("trellis-docs-").FullName;
        var httpPort = FreePort();
        var grpcPort = FreePort();
        var info = new ProcessStartInfo("sh")
        {
            ArgumentList = { "-c", Watchdog, SiloAssembly(), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["Trellis__Http__Url"] = $"http://127.0.0.1:{httpPort}";
        info.Environment["Trellis__Grpc__Url"] = $"http://127.0.0.1:{grpcPort}";
        info.Environment["Trellis__Storage__Sqlite__Path"] = Path.Combine(directory, "data", "trellis.db");
        // Its own Orleans ports, so it never meets another test's silo on the defaults.
        var ports = new List<int>();
        while (ports.Count < 2)
        {
            var port = FreePort();
            if (port != httpPort && port != grpcPort && !ports.Contains(port))
            {
                ports.Add(port);
            }
        }

        info.Environment["Trellis__Cluster__SiloPort"] = ports[0].ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["Trellis__Cluster__GatewayPort"] = ports[1].ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["DOTNET_gcServer"] = "0";

        var process = new Process { StartInfo = info };
        var silo = new AllInOne(process, directory, httpPort, grpcPort);
        process.OutputDataReceived += (_, e) => silo.Append(e.Data);
        process.ErrorDataReceived += (_, e) => silo.Append(e.Data is null ? null : "stderr: " + e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await silo.WaitUntilReadyAsync();
        }
        catch
        {
            await silo.DisposeAsync();
            throw;
        }

        return silo;
    }

    private async Task WaitUntilReadyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var url = $"http://127.0.0.1:{HttpPort}/readyz";
        var last = "no answer yet";
        var ready = Task.Run(async () =>
        {
            while (true)
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"the all-in-one silo exited with code {_process.ExitCode} before it was ready:\n{Log}");
                }

                try
                {
                    using var response = await http.GetAsync(url);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        return;
                    }

                    last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                }
                catch (HttpRequestException e)
                {
                    last = e.Message;
                }

                await Task.Delay(200);
            }
        });
        try
        {
            await ready.Within($"the all-in-one silo to answer GET {url} with 200", TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; last answer: {last}; its output:\n{Log}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // A file still held open by a process that is going away; the temp directory is cleaned up later.
            }
        }
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }

    /// <summary>A loopback port nothing listens on now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The silo built beside this test (the project reference builds it in the same configuration).</summary>
    private static string SiloAssembly()
    {
        var configuration = typeof(AllInOne).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var path = Path.Combine(Repository.Root, "src", "Silo", "bin", configuration, "net10.0", "Trellis.Silo.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"the silo is not built at {path}", path);
    }
}
