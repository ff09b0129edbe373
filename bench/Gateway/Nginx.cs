using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Trellis.Bench.Gateway;

/// <summary>An nginx server run as a child process (<c>daemon off</c>) from a generated configuration in a temporary
/// directory, on free loopback ports; always stopped on dispose (and when the bench process exits).</summary>
/// <remarks>It serves up to two things: a reverse proxy (<c>proxy_pass</c> to an upstream with keep-alive connections,
/// the reference a gateway is compared with) and optionally a static node that answers <c>POST /echo</c> with a fixed
/// JSON body and <c>GET /health</c> with 200, so the node costs almost nothing and every proxy is measured against the
/// same cheap backend.</remarks>
public sealed class Nginx : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/nginx";

    private readonly Process _process;
    private readonly string _directory;
    private int _stopped;

    private Nginx(Process process, string directory, Uri? proxy, Uri? node)
    {
        _process = process;
        _directory = directory;
        Proxy = proxy;
        Node = node;
        AppDomain.CurrentDomain.ProcessExit += OnExit;
    }

    /// <summary>The reverse proxy's base address, when asked for.</summary>
    public Uri? Proxy { get; }

    /// <summary>The static node's base address, when asked for.</summary>
    public Uri? Node { get; }

    public int ProcessId => _process.Id;

    /// <summary>The requests nginx has answered so far, from its <c>stub_status</c> page on the static node
    /// (<c>GET /status</c>; the request asking counts too).</summary>
    public async Task<long> RequestsAsync(HttpClient http)
    {
        // "Active connections: 33 \nserver accepts handled requests\n 35 35 181204 \nReading: ..."
        var page = await http.GetStringAsync(new Uri(Node ?? throw new InvalidOperationException("no static node"), "/status"));
        var counts = page.Split('\n')[2].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(counts[2], CultureInfo.InvariantCulture);
    }

    /// <summary>Starts nginx with a static node answering <paramref name="staticReply"/> (when not null) and a reverse
    /// proxy to <paramref name="upstream"/> (when not null; the static node itself when <paramref name="proxyStaticNode"/>);
    /// waits until every listener accepts connections.</summary>
    public static async Task<Nginx> StartAsync(int workers, string? staticReply, Uri? upstream, bool proxyStaticNode = false)
    {
        var directory = Directory.CreateTempSubdirectory("trellis-bench-nginx-").FullName;
        // Worker processes run as nobody when nginx starts as root: they must reach the temp paths.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, (UnixFileMode)0x1FF);
        }
        var nodePort = staticReply is null ? 0 : FreePort();
        var nodeAddress = nodePort == 0 ? null : new Uri($"http://127.0.0.1:{nodePort}");
        upstream = proxyStaticNode ? nodeAddress : upstream;
        var proxyPort = upstream is null ? 0 : FreePort();
        var proxyAddress = proxyPort == 0 ? null : new Uri($"http://127.0.0.1:{proxyPort}");
        var config = Path.Combine(directory, "nginx.conf");
        await File.WriteAllTextAsync(config, Config(directory, workers, nodePort, staticReply, proxyPort, upstream));

        var info = Harness.Peer(Binary, ["-e", Path.Combine(directory, "error.log"), "-p", directory, "-c", config]);

        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start nginx.");
        var nginx = new Nginx(process, directory, proxyAddress, nodeAddress);
        try
        {
            foreach (var address in (Uri?[])[nodeAddress, proxyAddress])
            {
                if (address is not null)
                {
                    await WaitListeningAsync(process, address, directory);
                }
            }
        }
        catch
        {
            await nginx.DisposeAsync();
            throw;
        }

        return nginx;
    }

    public async ValueTask DisposeAsync()
    {
        Stop();
        AppDomain.CurrentDomain.ProcessExit -= OnExit;
        await _process.WaitForExitAsync();
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void OnExit(object? sender, EventArgs e) => Stop();

    private void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        try
        {
            // The master and its workers.
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited already.
        }
    }

    private static string Config(string directory, int workers, int nodePort, string? staticReply, int proxyPort, Uri? upstream)
    {
        var config = new StringBuilder();
        var user = Environment.UserName == "root" ? "user nobody nogroup;" : "";
        config.Append(CultureInfo.InvariantCulture, $$"""
            daemon off;
            master_process on;
            worker_processes {{workers}};
            {{user}}
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log warn;
            events { worker_connections 4096; }
            http {
              access_log off;
              client_body_temp_path {{directory}}/body;
              proxy_temp_path {{directory}}/proxy;
              fastcgi_temp_path {{directory}}/fastcgi;
              uwsgi_temp_path {{directory}}/uwsgi;
              scgi_temp_path {{directory}}/scgi;
              keepalive_requests 1000000;

            """);
        if (staticReply is not null)
        {
            config.Append(CultureInfo.InvariantCulture, $$"""
                  server {
                    listen 127.0.0.1:{{nodePort}};
                    location = /echo { default_type application/json; return 200 '{{staticReply}}'; }
                    location = /health { default_type text/plain; return 200 'ok'; }
                    location = /status { stub_status; }
                  }

                """);
        }

        if (upstream is not null)
        {
            config.Append(CultureInfo.InvariantCulture, $$"""
                  upstream node {
                    server {{upstream.Host}}:{{upstream.Port}};
                    keepalive 64;
                    keepalive_requests 1000000;
                  }
                  server {
                    listen 127.0.0.1:{{proxyPort}};
                    location / {
                      proxy_pass http://node;
                      proxy_http_version 1.1;
                      proxy_set_header Connection "";
                    }
                  }

                """);
        }

        config.Append("}\n");
        return config.ToString();
    }

    private static async Task WaitListeningAsync(Process process, Uri address, string directory)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                var log = Path.Combine(directory, "error.log");
                var text = File.Exists(log) ? await File.ReadAllTextAsync(log) : "";
                throw new InvalidOperationException($"nginx exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync()} {text}");
            }

            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(IPAddress.Loopback, address.Port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(20);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>CPU time (user + system) of processes, from /proc (Linux; zero elsewhere).</summary>
public static class CpuTime
{
    private static readonly double TicksPerSecond = 100; // USER_HZ: 100 on every Linux ABI .NET runs on

    /// <summary>Seconds of CPU used so far by <paramref name="pid"/> and, when <paramref name="withChildren"/>, by its
    /// live child processes (nginx's workers).</summary>
    public static double Seconds(int pid, bool withChildren = false)
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        var total = Ticks(pid, out _);
        if (withChildren)
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), out var child) && child != pid)
                {
                    var ticks = Ticks(child, out var parent);
                    if (parent == pid)
                    {
                        total += ticks;
                    }
                }
            }
        }

        return total / TicksPerSecond;
    }

    private static long Ticks(int pid, out int parent)
    {
        parent = 0;
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }

        // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }
}
