namespace Trellis.Flows.Activities;

/// <summary>An activity a repository offers: enough to choose it; <see cref="Location"/> is where the repository keeps
/// it (a directory, or the archive's URL).</summary>
public sealed record ActivityListing(Guid Id, string Name, string Version, string? Description, IReadOnlyList<string> Tags, string Location)
{
    /// <summary>True when <paramref name="selector"/> is its id, its name (<c>@scope/name</c> or <c>name</c>) or its role.</summary>
    public bool Matches(string selector) =>
        (Guid.TryParse(selector, out var id) && id == Id)
        || string.Equals(selector, Name, StringComparison.Ordinal)
        || string.Equals(selector, ActivityManifest.RoleOf(Name), StringComparison.Ordinal);
}
