using System.Globalization;
using System.Text;

namespace Trellis.Api.Tests.Telemetry;

/// <summary>One sample of a Prometheus text exposition: metric name, labels, value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public bool Has(string label, string value) => Labels.TryGetValue(label, out var v) && v == value;
}

/// <summary>Reads Prometheus' text format (https://prometheus.io/docs/instrumenting/exposition_formats/), enough to find samples by name and labels.</summary>
public sealed class PrometheusText(IReadOnlyList<PrometheusSample> samples, string text)
{
    public IReadOnlyList<PrometheusSample> Samples { get; } = samples;

    public string Text { get; } = text;

    /// <summary>The samples named <paramref name="name"/> carrying every label of <paramref name="labels"/> (label=value pairs).</summary>
    public IEnumerable<PrometheusSample> Find(string name, params (string Label, string Value)[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l => s.Has(l.Label, l.Value)));

    /// <summary>The sum of the samples <see cref="Find"/> returns (0 when there are none).</summary>
    public double Sum(string name, params (string Label, string Value)[] labels) => Find(name, labels).Sum(static s => s.Value);

    public static PrometheusText Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            string name;
            int rest;
            if (brace >= 0 && brace < space)
            {
                name = line[..brace];
                rest = ReadLabels(line, brace + 1, labels);
            }
            else
            {
                name = line[..space];
                rest = space;
            }

            var fields = line[rest..].Trim().Split(' ');
            samples.Add(new PrometheusSample(name, labels, fields[0] switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                var v => double.Parse(v, CultureInfo.InvariantCulture),
            }));
        }

        return new PrometheusText(samples, text);
    }

    /// <summary>Reads <c>key="value",...}</c> from <paramref name="at"/>; returns the index after the closing brace.</summary>
    private static int ReadLabels(string line, int at, Dictionary<string, string> labels)
    {
        while (line[at] != '}')
        {
            var equals = line.IndexOf('=', at);
            var key = line[at..equals].Trim(',', ' ');
            var value = new StringBuilder();
            var i = equals + 2;
            for (; line[i] != '"'; i++)
            {
                if (line[i] == '\\')
                {
                    i++;
                    value.Append(line[i] == 'n' ? '\n' : line[i]);
                }
                else
                {
                    value.Append(line[i]);
                }
            }

            labels[key] = value.ToString();
            at = i + 1;
            if (line[at] == ',')
            {
                at++;
            }
        }

        return at + 1;
    }
}
