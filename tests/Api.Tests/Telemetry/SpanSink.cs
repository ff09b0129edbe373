using System.Collections;
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Trellis.Api.Tests.Telemetry;

/// <summary>The spans a gateway's tracer provider exported, collected by OpenTelemetry's in-memory exporter. Every tracer
/// provider in the test process sees every span of the sources it listens to, so tests pick theirs by trace id.</summary>
public sealed class SpanSink : ICollection<Activity>
{
    private readonly Lock _lock = new();
    private readonly List<Activity> _spans = [];

    /// <summary>Hooks this sink into the gateway's tracer provider (pass to <c>TestGateway.StartAsync(configure:)</c>).</summary>
    public void Attach(WebApplicationBuilder builder) =>
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(this));

    /// <summary>The exported spans of one trace, in the order they ended.</summary>
    public Activity[] Of(ActivityTraceId trace)
    {
        lock (_lock)
        {
            return _spans.Where(a => a.TraceId == trace).ToArray();
        }
    }

    /// <summary>One line per span of a trace, for failure messages.</summary>
    public string Describe(ActivityTraceId trace) =>
        string.Join("; ", Of(trace).Select(a => $"{a.Source.Name} {a.Kind} '{a.DisplayName}' {a.SpanId} <- {a.ParentSpanId}"));

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _spans.Count;
            }
        }
    }

    public bool IsReadOnly => false;

    public void Add(Activity item)
    {
        lock (_lock)
        {
            _spans.Add(item);
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _spans.Clear();
        }
    }

    public bool Contains(Activity item)
    {
        lock (_lock)
        {
            return _spans.Contains(item);
        }
    }

    public void CopyTo(Activity[] array, int arrayIndex)
    {
        lock (_lock)
        {
            _spans.CopyTo(array, arrayIndex);
        }
    }

    public bool Remove(Activity item)
    {
        lock (_lock)
        {
            return _spans.Remove(item);
        }
    }

    public IEnumerator<Activity> GetEnumerator()
    {
        lock (_lock)
        {
            return _spans.ToList().GetEnumerator();
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
