using System.Globalization;

namespace Trellis.Storage.Internal;

/// <summary>A numbered schema migration shipped as an embedded resource (<c>NNN_name.sql</c>).</summary>
internal sealed record SchemaScript(int Id, string Name, string Sql)
{
    /// <summary>Loads the scripts of one dialect ("Sqlite" or "Postgres"), ordered by number.</summary>
    public static IReadOnlyList<SchemaScript> Load(string dialect)
    {
        var assembly = typeof(SchemaScript).Assembly;
        var prefix = $"Trellis.Storage.{dialect}.Sql.";
        var scripts = new List<SchemaScript>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(prefix, StringComparison.Ordinal) || !resource.EndsWith(".sql", StringComparison.Ordinal))
            {
                continue;
            }

            var name = resource[prefix.Length..^".sql".Length];
            var separator = name.IndexOf('_', StringComparison.Ordinal);
            if (separator <= 0 || !int.TryParse(name.AsSpan(0, separator), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                throw new InvalidOperationException($"Schema script '{resource}' must be named NNN_description.sql.");
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var text = new StreamReader(stream);
            scripts.Add(new SchemaScript(id, name, text.ReadToEnd()));
        }

        scripts.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        return scripts;
    }
}
