using System.Net;
using System.Net.Sockets;

namespace Trellis.Transport.RabbitMq.Tests;

/// <summary>A loopback TCP relay in front of the broker that a test can cut, to lose a connection the way
/// a network failure does while the broker stays up.</summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly Lock _lock = new();
    private readonly List<Socket> _open = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private volatile bool _refusing;

    public TcpProxy(Uri target)
    {
        _targetHost = target.Host;
        _targetPort = target.IsDefaultPort || target.Port < 0 ? 5672 : target.Port;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The broker URI with the proxy in its place.</summary>
    public Uri Through(Uri target) => new UriBuilder(target) { Host = "127.0.0.1", Port = Port }.Uri;

    /// <summary>Resets every relayed connection; with <paramref name="refuseNew"/> also refuses new ones.</summary>
    public void Cut(bool refuseNew)
    {
        _refusing = refuseNew;
        Socket[] open;
        lock (_lock)
        {
            open = [.. _open];
            _open.Clear();
        }

        foreach (var socket in open)
        {
            try
            {
                // A reset, as when a network path dies, rather than an orderly close.
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (ObjectDisposedException)
            {
                // Its relay ended already.
            }

            socket.Dispose();
        }
    }

    public void Resume() => _refusing = false;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Cut(refuseNew: true);
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptSocketAsync(_stop.Token);
            if (_refusing)
            {
                client.Dispose();
                continue;
            }

            var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await upstream.ConnectAsync(_targetHost, _targetPort, _stop.Token);
            }
            catch (SocketException)
            {
                client.Dispose();
                upstream.Dispose();
                continue;
            }

            client.NoDelay = true;
            lock (_lock)
            {
                _open.Add(client);
                _open.Add(upstream);
            }

            _ = PumpAsync(client, upstream);
            _ = PumpAsync(upstream, client);
        }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    break;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            from.Dispose();
            to.Dispose();
            lock (_lock)
            {
                _open.Remove(from);
                _open.Remove(to);
            }
        }
    }
}
