using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace Trellis.Bench.Telemetry;

/// <summary>Which types a stretch of work allocates, from the runtime's allocation ticks (one event per ~100 KB allocated,
/// naming the type that crossed the mark): a sampled profile, good for comparing two sides of one run.</summary>
internal sealed class AllocationSampler : EventListener
{
    private const int AllocationTick = 10;
    private readonly ConcurrentDictionary<string, long> _bytes = new();
    private volatile bool _on;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_on || e.EventId != AllocationTick || e.Payload is null || e.PayloadNames is null)
        {
            return;
        }

        var type = e.Payload[e.PayloadNames.IndexOf("TypeName")] as string ?? "?";
        var amount = Convert.ToInt64(e.Payload[e.PayloadNames.IndexOf("AllocationAmount64")], CultureInfo.InvariantCulture);
        _bytes.AddOrUpdate(type, amount, (_, total) => total + amount);
    }

    /// <summary>Counts while <paramref name="work"/> runs; returns bytes by type per unit of work.</summary>
    private async Task<Dictionary<string, double>> SampleAsync(Func<Task<long>> work)
    {
        _bytes.Clear();
        _on = true;
        long units;
        try
        {
            units = await work();
        }
        finally
        {
            _on = false;
        }

        return _bytes.ToDictionary(static kv => kv.Key, kv => (double)kv.Value / Math.Max(1, units));
    }

    /// <summary>Profiles <paramref name="work"/> (returning how many requests it made) with telemetry off, then on
    /// after <paramref name="warm"/>, and prints the types whose bytes per request differ most.</summary>
    public static async Task CompareAsync(string what, Func<IDisposable> telemetryOn, Func<Task> warm, Func<Task<long>> work, int top = 25)
    {
        using var sampler = new AllocationSampler();
        var off = await sampler.SampleAsync(work);
        Dictionary<string, double> on;
        using (telemetryOn())
        {
            await warm();
            on = await sampler.SampleAsync(work);
        }

        Console.WriteLine($"Telemetry {what} allocation by type, bytes per request (sampled), on − off:");
        foreach (var type in on.Keys.Union(off.Keys)
                     .Select(t => (Type: t, On: on.GetValueOrDefault(t), Off: off.GetValueOrDefault(t)))
                     .OrderByDescending(static t => Math.Abs(t.On - t.Off)).Take(top))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {type.On - type.Off,8:+0;-0} ({type.Off:0} → {type.On:0})  {type.Type}"));
        }
    }
}
