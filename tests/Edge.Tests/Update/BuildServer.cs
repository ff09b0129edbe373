using System.Collections.Concurrent;
using System.Net;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Update;

/// <summary>A real HTTP server (HttpListener on a free loopback port) that serves agent builds the way the gateway does:
/// GET /edge/builds/&lt;arch&gt;/binary with the device's bearer token and X-Trellis-Device header, else 401.</summary>
internal sealed class BuildServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentDictionary<string, byte[]> _files = new();
    private readonly ConcurrentQueue<(string Path, string? Authorization, string? Device)> _requests = new();
    private readonly Task _loop;

    public BuildServer(string token, string device)
    {
        Token = token;
        Device = device;
        var port = FreePorts.Take(1)[0];
        BaseUri = new Uri($"http://127.0.0.1:{port}/");
        _listener.Prefixes.Add(BaseUri.ToString());
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public Uri BaseUri { get; }

    public string Token { get; }

    public string Device { get; }

    public IReadOnlyCollection<(string Path, string? Authorization, string? Device)> Requests => _requests;

    public void Serve(string path, byte[] content) => _files[path] = content;

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            var request = context.Request;
            var path = request.Url!.AbsolutePath;
            var authorization = request.Headers["Authorization"];
            var device = request.Headers["X-Trellis-Device"];
            _requests.Enqueue((path, authorization, device));
            var response = context.Response;
            try
            {
                if (authorization != $"Bearer {Token}" || device != Device)
                {
                    response.StatusCode = 401;
                }
                else if (_files.TryGetValue(path, out var content))
                {
                    response.ContentType = "application/octet-stream";
                    response.ContentLength64 = content.Length;
                    await response.OutputStream.WriteAsync(content);
                }
                else
                {
                    response.StatusCode = 404;
                }

                response.Close();
            }
            catch (HttpListenerException)
            {
                // The client went away.
            }
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
