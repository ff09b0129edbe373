using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Trellis.Edge.Local;

/// <summary>Calls the agent's local API over its unix socket, as <c>trellis-edge list</c>, <c>ps</c>, … do.</summary>
public sealed class LocalClient : IDisposable
{
    private readonly HttpClient _http;

    public LocalClient(string socketPath, TimeSpan? timeout = null)
    {
        SocketPath = socketPath;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _http = new HttpClient(handler) { BaseAddress = new Uri("http://agent/"), Timeout = timeout ?? TimeSpan.FromSeconds(60) };
    }

    public string SocketPath { get; }

    /// <summary>Sends a call; <see cref="HttpRequestException"/> when the agent is not running.</summary>
    public async Task<(int Status, string Body)> SendAsync(HttpMethod method, string pathAndQuery, JsonNode? body = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, pathAndQuery.TrimStart('/'));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Opens a call whose body streams (<c>log -f</c>); the caller reads and disposes the response.</summary>
    public Task<HttpResponseMessage> OpenStreamAsync(string pathAndQuery, CancellationToken cancellationToken = default) =>
        _http.GetAsync(pathAndQuery.TrimStart('/'), HttpCompletionOption.ResponseHeadersRead, cancellationToken);

    public void Dispose() => _http.Dispose();
}
