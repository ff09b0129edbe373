using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Trellis.Flows.Activities;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Flows.Tests.Activities;

/// <summary>An HTTP repository served by a real static file server (python3 -m http.server) over a directory holding
/// index.json, a .tar.gz and a .zip.</summary>
public sealed class HttpActivityRepositoryTests : IAsyncLifetime
{
    private readonly TempFolder _temp = new();
    private Process? _server;
    private Uri _base = null!;

    public async ValueTask InitializeAsync()
    {
        var site = Path.Combine(_temp.Path, "site");
        Directory.CreateDirectory(Path.Combine(site, "archives"));
        await using (var file = File.Create(Path.Combine(site, "archives", "upper-1.0.0.tar.gz")))
        await using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        {
            await TarFile.CreateFromDirectoryAsync(Path.Combine(Samples.Directory, "upper"), gzip, includeBaseDirectory: true);
        }

        ZipFile.CreateFromDirectory(Path.Combine(Samples.Directory, "tee"), Path.Combine(site, "archives", "tee.zip"));
        var index = new JsonObject
        {
            ["activities"] = new JsonArray(
                new JsonObject { ["id"] = Samples.UpperId, ["name"] = "@samples/upper", ["version"] = "1.0.0", ["archive"] = "archives/upper-1.0.0.tar.gz" },
                new JsonObject { ["id"] = Samples.TeeId, ["name"] = "tee", ["version"] = "1.0.0", ["tags"] = new JsonArray("sh"), ["archive"] = "archives/tee.zip" }),
        };
        File.WriteAllText(Path.Combine(site, "index.json"), index.ToJsonString());

        var port = FreePorts.Take(1)[0];
        var info = new ProcessStartInfo("/usr/bin/python3", ["-m", "http.server", port.ToString(), "--bind", "127.0.0.1", "--directory", site])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        _server = Process.Start(info)!;
        _base = new Uri($"http://127.0.0.1:{port}/");
        await Waits.UntilAsync(
            async () =>
            {
                try
                {
                    using var tcp = new TcpClient();
                    await tcp.ConnectAsync("127.0.0.1", port);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            },
            static up => up,
            $"python3 http.server listening on 127.0.0.1:{port}");
    }

    public ValueTask DisposeAsync()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill();
            _server.WaitForExit();
        }

        _server?.Dispose();
        _temp.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Lists_the_index()
    {
        using var http = new HttpClient();
        var repository = ActivityRepositories.Open(_base.ToString(), http);

        var list = await repository.ListAsync(CancellationToken.None);

        Assert.Equal(["@samples/upper", "tee"], list.Select(static l => l.Name));
        Assert.Equal(new Uri(_base, "archives/tee.zip").ToString(), list[1].Location);
    }

    [Fact]
    public async Task Installs_a_tar_gz_and_a_zip_into_a_home()
    {
        using var http = new HttpClient();
        var store = new ActivityStore(Path.Combine(_temp.Path, "home"), http);
        store.Initialize();
        var config = store.LoadConfig();
        config.Repositories.Add(_base.ToString());
        store.SaveConfig(config);

        var upper = await store.InstallAsync("@samples/upper", CancellationToken.None);
        var tee = await store.EnableAsync("tee", CancellationToken.None);

        Assert.True(File.Exists(Path.Combine(upper.Directory, "main.py")));
        Assert.True(File.Exists(Path.Combine(upper.Directory, "activity.json")));
        Assert.True(Assert.Single(tee).Enabled);
        Assert.True(File.Exists(Path.Combine(tee[0].Directory, "main.sh")));
    }

    [Fact]
    public async Task A_missing_index_is_an_unavailable_repository()
    {
        using var http = new HttpClient();
        var repository = ActivityRepositories.Open(new Uri(_base, "nothing-here/").ToString(), http);

        var e = await Assert.ThrowsAsync<Trellis.Core.Errors.TrellisException>(() => repository.ListAsync(CancellationToken.None));

        Assert.Contains("HTTP 404", e.Message);
    }
}
