using Trellis.Contracts.V1;

namespace Trellis.Api.Edge;

/// <summary>The agent builds this gateway serves for auto-update, per architecture (runtime identifier).</summary>
public interface IEdgeBuilds
{
    /// <summary>The newest build for <paramref name="arch"/> (e.g. linux-arm64), or null.</summary>
    BuildInfo? Latest(string arch);

    /// <summary>Raised when a build is uploaded, so links of that architecture hear of it at once.</summary>
    event Action<BuildInfo>? Added;
}
