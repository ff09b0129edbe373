using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Trellis.Core.Diagnostics;
using Trellis.Hosting.Telemetry;

namespace Trellis.Bench.Telemetry;

/// <summary>What a stretch of work records while telemetry is on: spans stopped by source and name, and measurements by
/// instrument, per unit of work (<c>--census</c>). It listens beside the providers and to the same sources and meters,
/// so it changes nothing they sample.</summary>
internal sealed class TelemetryCensus : IDisposable
{
    /// <summary>The activity sources a Trellis process records.</summary>
    internal static readonly HashSet<string> Sources = [TrellisTelemetry.Name, TelemetryRegistration.AspNetCoreSource, .. TelemetryRegistration.OrleansSources];
    /// <summary>The meters a Trellis process collects (the runtime's aside).</summary>
    internal static readonly HashSet<string> Meters = [TrellisTelemetry.Name, TelemetryRegistration.OrleansMeter, .. TelemetryRegistration.AspNetCoreMeters];

    private readonly ConcurrentDictionary<string, long> _spans = new();
    private readonly ConcurrentDictionary<string, long> _measurements = new();
    private readonly ActivityListener _activities;
    private readonly MeterListener _meters = new();

    private TelemetryCensus()
    {
        _activities = new ActivityListener
        {
            ShouldListenTo = source => Sources.Contains(source.Name),
            // The weakest answer: the providers' sampler decides what is recorded.
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
            ActivityStopped = activity => _spans.AddOrUpdate($"{activity.Source.Name}: {activity.Kind} {(activity.Recorded ? "recorded" : "not recorded")}", 1, (_, n) => n + 1),
        };
        ActivitySource.AddActivityListener(_activities);
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (Meters.Contains(instrument.Meter.Name))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meters.SetMeasurementEventCallback<double>((instrument, _, _, _) => Count(instrument));
        _meters.SetMeasurementEventCallback<long>((instrument, _, _, _) => Count(instrument));
        _meters.SetMeasurementEventCallback<int>((instrument, _, _, _) => Count(instrument));
        _meters.Start();
    }

    private void Count(Instrument instrument) =>
        _measurements.AddOrUpdate($"{instrument.Meter.Name}: {instrument.Name}", 1, (_, n) => n + 1);

    /// <summary>Runs <paramref name="work"/> (which returns its units) with <paramref name="on"/>'s providers and prints
    /// what was recorded per unit.</summary>
    public static async Task PrintAsync(string what, Func<IDisposable> on, Func<Task> warmUp, Func<Task<long>> work)
    {
        using var providers = on();
        await warmUp();
        var census = new TelemetryCensus();
        var units = await work();
        census.Dispose();
        Console.WriteLine($"Telemetry {what} census per request ({units} requests):");
        foreach (var (name, count) in census._spans.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  span   {name}: {(double)count / units:0.###}"));
        }

        foreach (var (name, count) in census._measurements.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  metric {name}: {(double)count / units:0.###}"));
        }
    }

    public void Dispose()
    {
        _activities.Dispose();
        _meters.Dispose();
    }
}
