using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Trellis.Edge.Services.Internal;

namespace Trellis.Edge.Services;

/// <summary>The LAN scope (adaptiveservice's LANRegistry): every agent binds <c>0.0.0.0:port</c> with SO_REUSEADDR, so
/// several agents on one host share the port, and answers broadcast queries for its services published with
/// <see cref="Scope.Lan"/> by unicast to the querier, who collects the answers for a short window.</summary>
public sealed partial class LanRegistry : IAsyncDisposable
{
    /// <summary>How long a query collects answers unless told otherwise (adaptiveservice: 100 ms).</summary>
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromMilliseconds(100);

    private const int RecentQueries = 256;

    private readonly IServiceTable _table;
    private readonly string _provider;
    private readonly ILogger _logger;
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _receiving;
    private readonly HashSet<string> _recentIds = [];
    private readonly Queue<string> _recentOrder = new();
    private long _malformed;

    /// <summary>Binds <c>0.0.0.0:<paramref name="port"/></c> and starts answering queries.</summary>
    public LanRegistry(IServiceTable table, string provider, int port, ILogger logger, TimeSpan? window = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(port);
        _table = table;
        _provider = provider;
        _logger = logger;
        Port = port;
        Window = window ?? DefaultWindow;
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _socket.EnableBroadcast = true;
            _socket.Bind(new IPEndPoint(IPAddress.Any, port));
        }
        catch
        {
            _socket.Dispose();
            throw;
        }

        _receiving = Task.Run(ReceiveAsync);
    }

    /// <summary>The UDP port the agents of this LAN share.</summary>
    public int Port { get; }

    /// <summary>How long a query collects answers.</summary>
    public TimeSpan Window { get; }

    /// <summary>Datagrams ignored because they were not valid (for diagnostics and tests).</summary>
    public long Malformed => Interlocked.Read(ref _malformed);

    /// <summary>Broadcasts a query and collects the answers of the other agents for <see cref="Window"/> (a little longer
    /// when an answer in several parts is still incomplete).</summary>
    public async Task<IReadOnlyList<FoundService>> QueryAsync(string publisherPattern, string servicePattern, CancellationToken cancellationToken)
    {
        var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
        var query = LanDatagram.EncodeQuery(id, _provider, publisherPattern, servicePattern);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.EnableBroadcast = true;
        socket.ReceiveBufferSize = 1 << 20;
        socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        foreach (var address in BroadcastAddresses())
        {
            try
            {
                await socket.SendToAsync(query, SocketFlags.None, new IPEndPoint(address, Port), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                LogSendFailed(_logger, address.ToString(), e.Message);
            }
        }

        var answers = new List<Answer>();
        await CollectAsync(socket, id, answers, Window, cancellationToken).ConfigureAwait(false);
        if (answers.Exists(static a => !a.Complete))
        {
            await CollectAsync(socket, id, answers, Window, cancellationToken).ConfigureAwait(false);
        }

        var found = new List<FoundService>();
        foreach (var answer in answers)
        {
            foreach (var part in answer.Parts)
            {
                foreach (var entry in part ?? [])
                {
                    found.Add(new FoundService(entry.Publisher, entry.Service, answer.Provider, Scope.Lan, Address(entry.Url, answer.From)));
                }
            }
        }

        return found;
    }

    private async Task CollectAsync(Socket socket, string id, List<Answer> answers, TimeSpan window, CancellationToken cancellationToken)
    {
        using var collecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        collecting.CancelAfter(window);
        var buffer = new byte[64 * 1024];
        while (true)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), collecting.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                LogReceiveFailed(_logger, e.Message);
                continue;
            }

            var datagram = LanDatagram.TryParse(buffer.AsSpan(0, received.ReceivedBytes), out var problem);
            if (datagram is null || datagram.Kind != LanDatagram.Found)
            {
                Interlocked.Increment(ref _malformed);
                LogMalformed(_logger, received.RemoteEndPoint.ToString() ?? "?", problem ?? "a query sent to a querier");
                continue;
            }

            if (datagram.Id != id || datagram.Provider == _provider)
            {
                continue;
            }

            var from = ((IPEndPoint)received.RemoteEndPoint).Address;
            var answer = answers.Find(a => a.Provider == datagram.Provider);
            if (answer is null)
            {
                answer = new Answer(datagram.Provider, from, new IReadOnlyList<LanEntry>?[datagram.Parts]);
                answers.Add(answer);
            }

            if (!answer.From.Equals(from) || answer.Parts.Length != datagram.Parts)
            {
                // The same provider through another interface, or an answer that disagrees with its first part.
                continue;
            }

            answer.Parts[datagram.Part] ??= datagram.Entries;
        }
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[64 * 1024];
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stopping.Token).ConfigureAwait(false);
                var datagram = LanDatagram.TryParse(buffer.AsSpan(0, received.ReceivedBytes), out var problem);
                if (datagram is null || datagram.Kind != LanDatagram.Query)
                {
                    Interlocked.Increment(ref _malformed);
                    LogMalformed(_logger, received.RemoteEndPoint.ToString() ?? "?", problem ?? "an answer sent to the shared port");
                    continue;
                }

                if (datagram.Provider == _provider || !FirstTime(datagram.Id))
                {
                    continue;
                }

                await AnswerAsync(datagram, received.RemoteEndPoint).ConfigureAwait(false);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogReceiveFailed(_logger, e.Message);
            }
        }
    }

    private async Task AnswerAsync(LanDatagram query, EndPoint querier)
    {
        var entries = new List<LanEntry>();
        foreach (var service in _table.Published)
        {
            if ((service.Scopes & Scope.Lan) != 0 && ServiceNames.Matches(query.Publisher, service.Publisher) && ServiceNames.Matches(query.Service, service.Service))
            {
                entries.Add(new LanEntry(service.Publisher, service.Service, service.Url));
            }
        }

        if (entries.Count == 0)
        {
            return;
        }

        foreach (var datagram in LanDatagram.EncodeFound(query.Id, _provider, entries))
        {
            await _socket.SendToAsync(datagram, SocketFlags.None, querier, _stopping.Token).ConfigureAwait(false);
        }
    }

    /// <summary>A query reaches an agent once per interface it was broadcast on; only the first copy is answered.</summary>
    private bool FirstTime(string id)
    {
        if (!_recentIds.Add(id))
        {
            return false;
        }

        _recentOrder.Enqueue(id);
        if (_recentOrder.Count > RecentQueries)
        {
            _recentIds.Remove(_recentOrder.Dequeue());
        }

        return true;
    }

    /// <summary>The service's URL, with an unspecified host (0.0.0.0, ::) replaced by the address that answered.</summary>
    internal static string Address(string url, IPAddress from)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !IPAddress.TryParse(uri.DnsSafeHost, out var host)
            || !(host.Equals(IPAddress.Any) || host.Equals(IPAddress.IPv6Any)))
        {
            return url;
        }

        if (from.IsIPv4MappedToIPv6)
        {
            from = from.MapToIPv4();
        }

        var authority = from.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{from}]" : from.ToString();
        return $"{uri.Scheme}://{authority}{(uri.IsDefaultPort ? "" : ":" + uri.Port)}{uri.PathAndQuery}{uri.Fragment}";
    }

    /// <summary>127.255.255.255 (loopback's broadcast route on Linux reaches the agents on this host) and the broadcast
    /// address of every up IPv4 interface.</summary>
    internal static List<IPAddress> BroadcastAddresses()
    {
        var addresses = new List<IPAddress> { IPAddress.Parse("127.255.255.255") };
        NetworkInterface[] interfaces;
        try
        {
            interfaces = NetworkInterface.GetAllNetworkInterfaces();
        }
        catch (NetworkInformationException)
        {
            return addresses;
        }

        foreach (var nic in interfaces)
        {
            if (nic.OperationalStatus != OperationalStatus.Up || nic.NetworkInterfaceType == NetworkInterfaceType.Loopback)
            {
                continue;
            }

            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                if (unicast.Address.AddressFamily != AddressFamily.InterNetwork || unicast.PrefixLength is <= 0 or >= 31)
                {
                    continue;
                }

                var address = BitConverter.ToUInt32(unicast.Address.GetAddressBytes());
                var mask = (uint)IPAddress.HostToNetworkOrder((int)(uint.MaxValue << (32 - unicast.PrefixLength)));
                var broadcast = new IPAddress(BitConverter.GetBytes(address | ~mask));
                if (!addresses.Contains(broadcast))
                {
                    addresses.Add(broadcast);
                }
            }
        }

        return addresses;
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _receiving.ConfigureAwait(false);
        _stopping.Dispose();
    }

    private sealed record Answer(string Provider, IPAddress From, IReadOnlyList<LanEntry>?[] Parts)
    {
        public bool Complete => Array.TrueForAll(Parts, static p => p is not null);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "LAN discovery: ignored a datagram from {From}: {Problem}")]
    private static partial void LogMalformed(ILogger logger, string from, string problem);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LAN discovery: sending a query to {Address} failed: {Reason}")]
    private static partial void LogSendFailed(ILogger logger, string address, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LAN discovery: receiving failed: {Reason}")]
    private static partial void LogReceiveFailed(ILogger logger, string reason);
}
