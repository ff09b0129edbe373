using System.Net;
using System.Net.Sockets;

namespace Trellis.Storage.Tests.Streams;

/// <summary>
/// A loopback TCP relay to a server. <see cref="Cut"/> drops every connection and refuses new ones: what the database sees
/// when the process on the other side dies, which an in-process silo "kill" does not give (its components still stop).
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _cut = new();
    private readonly List<TcpClient> _sockets = [];
    private readonly Task _accepting;

    public TcpProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    public void Cut()
    {
        _cut.Cancel();
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Client?.Close(0);
            }

            _sockets.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_cut.IsCancellationRequested)
        {
            Cut();
        }

        try
        {
            await _accepting;
        }
        catch (Exception)
        {
        }

        _cut.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_cut.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_cut.Token);
            }
            catch (Exception) when (_cut.IsCancellationRequested)
            {
                return;
            }

            _ = RelayAsync(inbound);
        }
    }

    private async Task RelayAsync(TcpClient inbound)
    {
        using var outbound = new TcpClient();
        using (inbound)
        {
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, _targetPort, _cut.Token);
                lock (_sockets)
                {
                    if (_cut.IsCancellationRequested)
                    {
                        return;
                    }

                    _sockets.Add(inbound);
                    _sockets.Add(outbound);
                }

                var a = inbound.GetStream();
                var b = outbound.GetStream();
                await Task.WhenAny(a.CopyToAsync(b, _cut.Token), b.CopyToAsync(a, _cut.Token));
            }
            catch (Exception)
            {
                // The relay ends when either side closes or the proxy is cut.
            }
            finally
            {
                lock (_sockets)
                {
                    _sockets.Remove(inbound);
                    _sockets.Remove(outbound);
                }
            }
        }
    }
}
