using Trellis.Core.Errors;

namespace Trellis.Api.Edge;

/// <summary>Where a gateway keeps the agent builds it serves, and how large one may be (section <c>Trellis:Edge</c>).</summary>
public sealed class EdgeBuildsOptions
{
    public const string Section = "Trellis:Edge";

    /// <summary>The default: beside the default SQLite file, so builds survive a restart. Every gateway keeps its own
    /// builds: upload to each, or point them all at one shared directory.</summary>
    public const string DefaultBuildsDirectory = "data/edge-builds";

    public const long DefaultMaxBuildBytes = 200L * 1024 * 1024;

    /// <summary>The directory of uploaded builds: &lt;arch&gt;/&lt;version&gt;/trellis-edge and manifest.json beside it.</summary>
    public string BuildsDirectory { get; set; } = DefaultBuildsDirectory;

    /// <summary>The largest build accepted by <c>PUT /edge/builds/{arch}</c>.</summary>
    public long MaxBuildBytes { get; set; } = DefaultMaxBuildBytes;

    public EdgeBuildsOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(BuildsDirectory))
        {
            throw TrellisException.Invalid($"{Section}:BuildsDirectory must name a directory (default {DefaultBuildsDirectory})");
        }

        if (MaxBuildBytes < 1024)
        {
            throw TrellisException.Invalid($"{Section}:MaxBuildBytes must be at least 1024 (was {MaxBuildBytes})");
        }

        return this;
    }
}
