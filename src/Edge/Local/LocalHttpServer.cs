using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Trellis.Edge.Local.Internal;

namespace Trellis.Edge.Local;

/// <summary>Serves the agent's <see cref="LocalRouter"/> over HTTP/1.1 on its unix socket and, optionally, on loopback
/// TCP: keep-alive, Content-Length request bodies up to 4 MiB, chunked streamed answers. Written on sockets so the
/// agent needs no ASP.NET Core; each connection is isolated, so nothing a client sends can stop the agent.</summary>
public sealed partial class LocalHttpServer : IAsyncDisposable
{
    /// <summary>More connections than this at once are closed as they arrive.</summary>
    public const int MaxConnections = 512;

    private readonly LocalRouter _router;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<HttpConnection, Task> _connections = new();
    private int _disposed;

    private LocalHttpServer(LocalRouter router, string socketPath, ILogger logger)
    {
        _router = router;
        SocketPath = socketPath;
        _logger = logger;
    }

    /// <summary>The unix socket it listens on.</summary>
    public string SocketPath { get; }

    /// <summary>The loopback TCP port it listens on (the bound one when started with port 0); null for none.</summary>
    public int? HttpPort { get; private set; }

    /// <summary>Starts listening on <paramref name="socketPath"/> (a stale socket file is removed; another agent answering
    /// there is an <see cref="InvalidOperationException"/>) and on 127.0.0.1:<paramref name="httpPort"/> (0: the OS
    /// picks a port; negative: no TCP listener).</summary>
    public static async Task<LocalHttpServer> StartAsync(LocalRouter router, string socketPath, int httpPort, ILogger logger, CancellationToken ct)
    {
        var server = new LocalHttpServer(router, socketPath, logger);
        try
        {
            await server.ListenUnixAsync(ct).ConfigureAwait(false);
            if (httpPort >= 0)
            {
                server.ListenTcp(httpPort);
            }
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return server;
    }

    private async Task ListenUnixAsync(CancellationToken ct)
    {
        UnixDomainSocketEndPoint endPoint;
        try
        {
            endPoint = new UnixDomainSocketEndPoint(SocketPath);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"the local API socket path '{SocketPath}' cannot be used: {e.Message}", e);
        }

        if (Directory.Exists(SocketPath))
        {
            throw new InvalidOperationException($"the local API socket path '{SocketPath}' is a directory");
        }

        if (File.Exists(SocketPath))
        {
            if (await AnswersAsync(endPoint, ct).ConfigureAwait(false))
            {
                throw new InvalidOperationException($"another agent answers on {SocketPath}; stop it first or use another --socket/--home");
            }

            LogStaleSocket(_logger, SocketPath);
            File.Delete(SocketPath);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(SocketPath))!);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(endPoint);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        Add(listener);
        LogListening(_logger, "unix:" + SocketPath);
    }

    private void ListenTcp(int port)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
            listener.Listen(128);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new InvalidOperationException($"the local API cannot listen on 127.0.0.1:{port}: {e.Message}", e);
        }

        HttpPort = ((IPEndPoint)listener.LocalEndPoint!).Port;
        Add(listener);
        LogListening(_logger, $"http://127.0.0.1:{HttpPort}");
    }

    private static async Task<bool> AnswersAsync(UnixDomainSocketEndPoint endPoint, CancellationToken ct)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await probe.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // Accepted into a full backlog but never served: something is there, but it is not answering.
            return false;
        }
    }

    private void Add(Socket listener)
    {
        _listeners.Add(listener);
        _acceptLoops.Add(Task.Run(() => AcceptAsync(listener)));
    }

    private async Task AcceptAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of file descriptors and the like: wait a little instead of spinning.
                LogAcceptFailed(_logger, e.Message);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }

            if (_connections.Count >= MaxConnections)
            {
                LogTooMany(_logger, MaxConnections);
                socket.Dispose();
                continue;
            }

            if (socket.AddressFamily != AddressFamily.Unix)
            {
                socket.NoDelay = true;
            }

            var connection = new HttpConnection(socket, _router, _logger, _stopping.Token);
            _connections[connection] = Task.Run(async () =>
            {
                try
                {
                    await connection.RunAsync().ConfigureAwait(false);
                }
                finally
                {
                    _connections.TryRemove(connection, out _);
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }

        foreach (var connection in _connections.Keys)
        {
            connection.Socket.Dispose();
        }

        try
        {
            await Task.WhenAll([.. _acceptLoops, .. _connections.Values]).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogSlowStop(_logger, _connections.Count);
        }

        if (_listeners.Count > 0)
        {
            try
            {
                File.Delete(SocketPath);
            }
            catch (IOException)
            {
            }
        }

        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Local API listening on {Address}")]
    private static partial void LogListening(ILogger logger, string address);

    [LoggerMessage(Level = LogLevel.Information, Message = "Removed the stale local API socket {Path} (nothing answers on it)")]
    private static partial void LogStaleSocket(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Local API: accepting a connection failed: {Reason}")]
    private static partial void LogAcceptFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Local API: {Max} connections are open; closed a new one")]
    private static partial void LogTooMany(ILogger logger, int max);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Local API: {Count} connections were still closing after 5 s")]
    private static partial void LogSlowStop(ILogger logger, int count);
}
