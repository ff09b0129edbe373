using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Edge;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using Trellis.TestKit;
using static Trellis.Api.Tests.Edge.Admin.EdgeAdminTesting;

namespace Trellis.Api.Tests.Edge.Admin;

/// <summary>Agent builds over HTTP: upload (checksum, limits, bad input), list, latest by version, download by the admin
/// or by a device with its own token, and the Added event the links hear.</summary>
public sealed class EdgeBuildsApiTests : IAsyncLifetime
{
    private const int MaxBuildBytes = 64 * 1024;

    private readonly TempFolder _temp = new();
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Trellis:Edge:BuildsDirectory"] = _temp.Path,
        ["Trellis:Edge:MaxBuildBytes"] = MaxBuildBytes.ToString(),
    });

    public async ValueTask DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _temp.Dispose();
    }

    private async Task<(int Status, string Body)> UploadAsync(string arch, string query, byte[] content, string? token = AdminToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/edge/builds/{arch}?{query}") { Content = new ByteArrayContent(content) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await _gateway.Http.SendAsync(request, TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    private async Task<(int Status, byte[] Body, HttpResponseMessage Response)> DownloadAsync(string arch, string? token, string? device = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/edge/builds/{arch}/binary");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (device is not null)
        {
            request.Headers.Add(EdgeOperations.DeviceHeader, device);
        }

        var response = await _gateway.Http.SendAsync(request, TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken), response);
    }

    private static byte[] Binary(int size, byte seed) => [.. Enumerable.Range(0, size).Select(i => (byte)(i * 31 + seed))];

    [Fact]
    public async Task Uploads_are_listed_the_highest_version_is_latest_and_its_file_downloads_with_its_checksum()
    {
        var added = new List<BuildInfo>();
        _gateway.Services.GetService<IEdgeBuilds>()!.Added += added.Add;
        Assert.Equal(404, (await _gateway.GetAsync("/edge/builds/linux-arm64", AdminToken)).Status);

        var v19 = Binary(5000, 1);
        var v110 = Binary(7000, 2);
        var sha110 = Convert.ToHexStringLower(SHA256.HashData(v110));
        Assert.Equal(201, (await UploadAsync("linux-arm64", "version=1.9.0", v19)).Status);
        var uploaded = await UploadAsync("linux-arm64", $"version=1.10.0&sha256={sha110.ToUpperInvariant()}", v110);
        Assert.True(uploaded.Status == 201, uploaded.Body);
        Assert.Equal(201, (await UploadAsync("linux-arm64", "version=1.10.0-rc.1", Binary(100, 3))).Status);
        Assert.Equal(201, (await UploadAsync("linux-x64", "version=0.1.0", Binary(100, 4))).Status);

        var latest = await _gateway.GetAsync("/edge/builds/linux-arm64", AdminToken);
        Assert.Equal(200, latest.Status);
        Assert.Equal("1.10.0", (string)latest.Json["version"]!);
        Assert.Equal(sha110, (string)latest.Json["sha256"]!);
        Assert.Equal(7000, (long)latest.Json["size"]!);
        Assert.Equal("/edge/builds/linux-arm64/binary", (string)latest.Json["path"]!);

        var list = await _gateway.GetAsync("/edge/builds", AdminToken);
        Assert.Equal(["linux-arm64 1.9.0", "linux-arm64 1.10.0-rc.1", "linux-arm64 1.10.0", "linux-x64 0.1.0"],
            list.Json.AsArray().Select(static b => $"{(string)b!["arch"]!} {(string)b["version"]!}"));
        // The pre-release came after 1.10.0 but is older: only builds that became the latest were announced.
        Assert.Equal(["1.9.0", "1.10.0", "0.1.0"], added.Select(static b => b.Version));
        Assert.True(File.Exists(Path.Combine(_temp.Path, "linux-arm64", "1.10.0", "trellis-edge")));
        Assert.True(File.Exists(Path.Combine(_temp.Path, "linux-arm64", "1.10.0", "manifest.json")));

        var (status, body, response) = await DownloadAsync("linux-arm64", AdminToken);
        using (response)
        {
            Assert.Equal(200, status);
            Assert.Equal(v110, body);
            Assert.Equal(sha110, response.Headers.GetValues("X-Trellis-Sha256").Single());
            Assert.Equal("1.10.0", response.Headers.GetValues("X-Trellis-Version").Single());
        }
    }

    [Fact]
    public async Task A_device_downloads_with_its_own_token_and_provider_header_only()
    {
        Assert.Equal(201, (await UploadAsync("linux-arm64", "version=2.0.0", Binary(300, 9))).Status);
        var provider = NewProvider();
        var token = await IssueTokenAsync(_gateway, provider);

        var (ok, body, r1) = await DownloadAsync("linux-arm64", token, provider);
        r1.Dispose();
        Assert.Equal(200, ok);
        Assert.Equal(300, body.Length);

        var (noHeader, _, r2) = await DownloadAsync("linux-arm64", token);
        r2.Dispose();
        Assert.Equal(403, noHeader);
        var (otherDevice, _, r3) = await DownloadAsync("linux-arm64", token, NewProvider());
        r3.Dispose();
        Assert.Equal(403, otherDevice);
        var (none, _, r4) = await DownloadAsync("linux-arm64", null);
        r4.Dispose();
        Assert.Equal(401, none);
        var (missing, _, r5) = await DownloadAsync("linux-riscv64", AdminToken);
        r5.Dispose();
        Assert.Equal(404, missing);

        await _gateway.DeleteAsync($"/edge/devices/{provider}/token", AdminToken);
        var (revoked, _, r6) = await DownloadAsync("linux-arm64", token, provider);
        r6.Dispose();
        Assert.Equal(403, revoked);
    }

    [Fact]
    public async Task Bad_uploads_are_refused_naming_the_problem_and_leave_nothing_behind()
    {
        var content = Binary(1000, 5);
        foreach (var (arch, query, expected, problem) in new[]
                 {
                     ("Linux-ARM64", "version=1.0.0", 400, "arch 'Linux-ARM64'"),
                     ("linux_arm64", "version=1.0.0", 400, "arch 'linux_arm64'"),
                     ("linux-arm64", "", 400, "the version is missing"),
                     ("linux-arm64", "version=1..0", 400, "version '1..0'"),
                     ("linux-arm64", "version=1.0.0&sha256=abc", 400, "64 hex digits"),
                     ("linux-arm64", $"version=1.0.0&sha256={new string('0', 64)}", 400, "not the sha256"),
                 })
        {
            var (status, body) = await UploadAsync(arch, query, content);
            Assert.True(status == expected, $"{arch}?{query} answered {status}: {body}");
            Assert.Contains(problem, body, StringComparison.Ordinal);
        }

        var (tooLarge, tooLargeBody) = await UploadAsync("linux-arm64", "version=1.0.0", Binary(MaxBuildBytes + 1, 6));
        Assert.Equal(413, tooLarge);
        Assert.Contains("Trellis:Edge:MaxBuildBytes", tooLargeBody, StringComparison.Ordinal);
        Assert.Equal(400, (await UploadAsync("linux-arm64", "version=1.0.0", [])).Status);
        Assert.Equal(403, (await UploadAsync("linux-arm64", "version=1.0.0", content, "not-the-admin-token-0123456789")).Status);

        var text = await _gateway.SendAsync(HttpMethod.Put, "/edge/builds/linux-arm64?version=1.0.0", "hello", AdminToken, "text/plain");
        Assert.Equal(415, text.Status);

        Assert.Empty((await _gateway.GetAsync("/edge/builds", AdminToken)).Json.AsArray());
        Assert.Empty(Directory.EnumerateFiles(_temp.Path, "*", SearchOption.AllDirectories));
    }
}
