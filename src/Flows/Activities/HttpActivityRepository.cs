using Trellis.Flows.Activities.Internal;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Core.Errors;

namespace Trellis.Flows.Activities;

/// <summary>An HTTP(S) repository: <c>&lt;base&gt;/index.json</c> is
/// <c>{"activities":[{"id","name","version","description"?,"tags"?,"archive"}]}</c> where <c>archive</c> is a URL relative
/// to the index of a <c>.tar.gz</c>/<c>.tgz</c> or <c>.zip</c> holding the activity directory's files (at its root, or in
/// one top-level directory). Any static file server will do (<c>python3 -m http.server</c>).</summary>
public sealed class HttpActivityRepository(Uri baseUri, HttpClient http) : IActivityRepository
{
    private readonly Uri _base = baseUri.AbsoluteUri.EndsWith('/') ? baseUri : new Uri(baseUri.AbsoluteUri + "/");

    public string Location => baseUri.ToString();

    public async Task<IReadOnlyList<ActivityListing>> ListAsync(CancellationToken cancellationToken)
    {
        var indexUri = new Uri(_base, "index.json");
        string text;
        try
        {
            using var response = await http.GetAsync(indexUri, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new TrellisException(ErrorKind.Unavailable, $"repository {indexUri}: HTTP {(int)response.StatusCode}");
            }

            text = await response.Content.ReadAsStringAsync(cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new TrellisException(ErrorKind.Unavailable, $"repository {indexUri}: {e.Message}");
        }

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"repository {indexUri}: not valid JSON ({e.Message})");
        }

        if (root?["activities"] is not JsonArray items)
        {
            throw TrellisException.Invalid($"repository {indexUri}: field 'activities' (an array) is missing");
        }

        var list = new List<ActivityListing>();
        for (var i = 0; i < items.Count; i++)
        {
            var where = $"repository {indexUri}: activities[{i}]";
            if (items[i] is not JsonObject o)
            {
                throw TrellisException.Invalid($"{where} must be an object");
            }

            if (!Guid.TryParse(Text(o, "id"), out var id))
            {
                throw TrellisException.Invalid($"{where}: field 'id' must be a UUID");
            }

            var name = Text(o, "name");
            if (name is null || !ActivityManifest.IsValidName(name))
            {
                throw TrellisException.Invalid($"{where}: field 'name' is missing or not a valid name");
            }

            var archive = Text(o, "archive") ?? throw TrellisException.Invalid($"{where}: field 'archive' is missing");
            var tags = o["tags"] is JsonArray t ? t.Select(static n => n?.GetValue<string>() ?? "").ToList() : [];
            list.Add(new ActivityListing(id, name, Text(o, "version") ?? "0.0.0", Text(o, "description"), tags, new Uri(_base, archive).ToString()));
        }

        return list;
    }

    public async Task FetchAsync(ActivityListing listing, string directory, CancellationToken cancellationToken)
    {
        var uri = new Uri(listing.Location);
        using var response = await http.GetAsync(uri, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new TrellisException(ErrorKind.Unavailable, $"repository archive {uri}: HTTP {(int)response.StatusCode}");
        }

        var buffer = new MemoryStream();
        await response.Content.CopyToAsync(buffer, cancellationToken);
        buffer.Position = 0;
        var path = uri.AbsolutePath;
        if (path.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
        {
            await ZipFile.ExtractToDirectoryAsync(buffer, directory, overwriteFiles: false, cancellationToken);
        }
        else if (path.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase))
        {
            await using var gzip = new GZipStream(buffer, CompressionMode.Decompress);
            await TarFile.ExtractToDirectoryAsync(gzip, directory, overwriteFiles: false, cancellationToken);
        }
        else
        {
            throw TrellisException.Invalid($"repository archive {uri}: must end in .tar.gz, .tgz or .zip");
        }

        ActivityFiles.HoistSingleDirectory(directory);
    }

    private static string? Text(JsonObject o, string field) =>
        o[field] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
