using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Edge.Local;

namespace Trellis.Edge.Jobs;

/// <summary>The jobs' local API (all callable by the cluster through the link): run, ps, kill, stop, start, rm, log and
/// joblist save/load.</summary>
public static class JobRoutes
{
    public static void Map(LocalRouter router, JobManager jobs)
    {
        router.Map("POST", "/v1/jobs", (request, _, _) =>
        {
            var snapshot = jobs.Run(JobSpec.FromJson(request.Json()));
            return Task.FromResult(LocalResponse.Json(201, jobs.Describe(snapshot.Id)));
        }, remote: true);

        router.Map("GET", "/v1/jobs", (request, _, _) =>
        {
            var found = request.QueryValue("name") is { Length: > 0 } pattern ? jobs.Find(pattern) : jobs.Snapshot();
            return Task.FromResult(LocalResponse.Ok(List(found)));
        }, remote: true);

        router.Map("GET", "/v1/jobs/{id}", (_, route, _) => Task.FromResult(LocalResponse.Ok(jobs.Describe(jobs.Find(route["id"])[0].Id))), remote: true);

        router.Map("POST", "/v1/jobs/{id}/kill", async (request, route, ct) =>
            LocalResponse.Ok(List(await jobs.KillAsync(route["id"], Flag(request, "force"), ct).ConfigureAwait(false))), remote: true);

        router.Map("POST", "/v1/jobs/{id}/stop", async (request, route, ct) =>
        {
            TimeSpan? grace = null;
            if (request.QueryValue("grace") is { } text)
            {
                grace = double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
                    ? TimeSpan.FromSeconds(seconds)
                    : throw new LocalApiException(400, $"grace: expected seconds ≥ 0, found '{text}'");
            }

            return LocalResponse.Ok(List(await jobs.StopAsync(route["id"], grace, ct).ConfigureAwait(false)));
        }, remote: true);

        router.Map("POST", "/v1/jobs/{id}/start", (_, route, _) => Task.FromResult(LocalResponse.Ok(List(jobs.StartAgain(route["id"])))), remote: true);

        router.Map("DELETE", "/v1/jobs/{id}", (_, route, _) =>
            Task.FromResult(LocalResponse.Ok(new JsonObject { ["removed"] = new JsonArray([.. jobs.Remove(route["id"]).Select(static id => (JsonNode?)id)]) })), remote: true);

        router.Map("GET", "/v1/jobs/{id}/log", (request, route, _) =>
        {
            var id = jobs.Find(route["id"])[0].Id;
            var path = jobs.LogPath(id);
            var text = File.Exists(path) ? ReadShared(path) : [];
            var response = new LocalResponse(200, text, "text/plain; charset=utf-8");
            return Task.FromResult(Flag(request, "follow") && !request.FromCluster
                ? response with { Stream = (stream, ct) => FollowAsync(jobs, id, path, stream, ct) }
                : response);
        }, remote: true);

        router.Map("POST", "/v1/joblist/save", (request, _, _) =>
        {
            var yaml = JobList.Emit(jobs.Specs(Flag(request, "tiny")));
            return Task.FromResult(new LocalResponse(200, Encoding.UTF8.GetBytes(yaml), "text/yaml; charset=utf-8"));
        }, remote: true);

        router.Map("POST", "/v1/joblist/load", (request, _, _) =>
        {
            var specs = JobList.Parse(YamlBody(request.Body));
            var loaded = new JsonArray();
            foreach (var spec in specs)
            {
                loaded.Add((JsonNode)jobs.Describe(jobs.Run(spec).Id));
            }

            return Task.FromResult(LocalResponse.Ok(new JsonObject { ["loaded"] = loaded }));
        }, remote: true);
    }

    /// <summary>ps: <c>[{id, name, group, startAt, status, restarts}]</c>.</summary>
    public static JsonArray List(IEnumerable<JobSnapshot> jobs) =>
        [.. jobs.Select(static j => (JsonNode?)new JsonObject
        {
            ["id"] = j.Id,
            ["name"] = j.Name,
            ["group"] = j.Group,
            ["startAt"] = j.StartAt?.ToString("O"),
            ["status"] = j.Status,
            ["restarts"] = j.Restarts,
        })];

    /// <summary>The YAML text; a JSON string holding it is accepted too (what a JSON-only client such as the CLI's
    /// <see cref="LocalClient"/> sends).</summary>
    private static string YamlBody(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body);
        if (text.TrimStart().StartsWith('"'))
        {
            try
            {
                if (JsonNode.Parse(text) is JsonValue value && value.TryGetValue<string>(out var yaml))
                {
                    return yaml;
                }
            }
            catch (JsonException)
            {
            }
        }

        return text;
    }

    private static bool Flag(LocalRequest request, string name) => request.QueryValue(name) switch
    {
        null or "false" or "0" => false,
        "" or "true" or "1" => true,
        var other => throw new LocalApiException(400, $"{name}: expected true or false, found '{other}'"),
    };

    private static byte[] ReadShared(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var copy = new MemoryStream();
        file.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>Writes the log from its start and then what is appended, until the job ends or the caller goes away.</summary>
    private static async Task FollowAsync(JobManager jobs, string id, string path, Stream output, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        FileStream? file = null;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var running = jobs.IsRunning(id);
                if (file is null && File.Exists(path))
                {
                    file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                }

                if (file is not null)
                {
                    int read;
                    while ((read = await file.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    }

                    await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                }

                if (!running)
                {
                    return;
                }

                await Task.Delay(JobManager.PollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (file is not null)
            {
                await file.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
