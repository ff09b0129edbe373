using System.Diagnostics;

namespace Trellis.Core.Diagnostics;

/// <summary>What the bus records into <see cref="TrellisTelemetry"/>'s shared instruments: one call at each point where a
/// request is delivered and answered, a signal delivered, or an error reported.</summary>
/// <remarks>Each call is a flag check when nothing listens: a timestamp is taken only while the request histogram is
/// enabled, and tags go in a <see cref="TagList"/> (a struct), so a measurement allocates nothing.</remarks>
public static class BusMetrics
{
    /// <summary>When a request's handling starts: a timestamp while <see cref="TrellisTelemetry.RequestDuration"/> records, else 0.</summary>
    public static long RequestStarted() => TrellisTelemetry.RequestDuration.Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Records a request answered with <paramref name="code"/> by the handler of <paramref name="topic"/> in
    /// <paramref name="group"/>, started at <paramref name="started"/> (nothing when it is 0).</summary>
    public static void RequestFinished(string topic, string? group, int code, long started)
    {
        if (started == 0 || !TrellisTelemetry.RequestDuration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { TrellisTelemetry.Tags.Topic, topic },
            { TrellisTelemetry.Tags.Group, group },
            { TrellisTelemetry.Tags.Code, CodeTag(code) },
        };
        TrellisTelemetry.RequestDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
    }

    /// <summary>Counts a signal delivered to a slot.</summary>
    public static void SignalDelivered(string topic)
    {
        if (TrellisTelemetry.SignalsDelivered.Enabled)
        {
            TrellisTelemetry.SignalsDelivered.Add(1, new KeyValuePair<string, object?>(TrellisTelemetry.Tags.Topic, topic));
        }
    }

    /// <summary>Counts a report on the error channel.</summary>
    public static void ErrorReported(string topic, int code)
    {
        if (TrellisTelemetry.ErrorsReported.Enabled)
        {
            TrellisTelemetry.ErrorsReported.Add(
                1,
                new KeyValuePair<string, object?>(TrellisTelemetry.Tags.Topic, topic),
                new KeyValuePair<string, object?>(TrellisTelemetry.Tags.Code, CodeTag(code)));
        }
    }

    /// <summary>A code as a tag value: a cached boxed integer for codes up to 599, so a measurement does not box.</summary>
    public static object CodeTag(int code) => (uint)code < (uint)BoxedCodes.Length ? BoxedCodes[code] : code;

    private static readonly object[] BoxedCodes = CreateBoxedCodes();

    private static object[] CreateBoxedCodes()
    {
        var codes = new object[600];
        for (var i = 0; i < codes.Length; i++)
        {
            codes[i] = i;
        }

        return codes;
    }
}
