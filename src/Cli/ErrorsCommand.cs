using System.CommandLine;

namespace Trellis.Cli;

/// <summary><c>trellis errors tail</c>: the cluster's error channel (<c>GET /errors</c>, Server-Sent Events), one report
/// per line until Ctrl+C.</summary>
internal static class ErrorsCommand
{
    public static Command Create()
    {
        var format = OutputFormat.Create(OutputFormat.Json);
        var recent = new Option<int>("--recent", "-n") { Description = "first print up to N reports the gateway still holds (0 to 1000)", DefaultValueFactory = _ => 0 };
        recent.Validators.Add(r =>
        {
            if (r.GetValue(recent) is < 0 or > 1000)
            {
                r.AddError("--recent must be 0 to 1000");
            }
        });
        var tail = new Command("tail", "Follow the error channel: every request or slot that ended with a code of 300 or more, as {code, topic, sender, request_data, user_data, timestamp, origin}")
        {
            recent, format,
        };
        tail.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (_, error) =>
        {
            using var client = ClusterClient.Create(parse, Timeout.InfiniteTimeSpan);
            await foreach (var (name, data) in client.EventsAsync($"/errors?recent={parse.GetValue(recent)}", ct))
            {
                if (name == "error")
                {
                    await OutputFormat.WriteEventAsync(parse, format, data, static r =>
                        [Tables.Field(r, "timestamp"), Tables.Field(r, "code"), Tables.Field(r, "topic"), Tables.Field(r, "origin"), Tables.Field(r, "user_data")]);
                }
                else if (name == "dropped")
                {
                    await error.WriteLineAsync($"trellis: {Tables.Field(data, "count")} reports dropped: this reader fell behind");
                }
            }

            return CliApp.Ok;
        }, ct));
        return new Command("errors", "The cluster's error channel") { tail };
    }
}
