namespace Trellis.Flows.Activities;

/// <summary>Where <c>install</c> finds activities: a directory of activity directories (<see cref="DirectoryActivityRepository"/>)
/// or an HTTP(S) server with an <c>index.json</c> and one archive per activity (<see cref="HttpActivityRepository"/>).</summary>
public interface IActivityRepository
{
    /// <summary>The directory or URL, as written in <c>config.json</c>.</summary>
    string Location { get; }

    Task<IReadOnlyList<ActivityListing>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Writes the activity's files into <paramref name="directory"/> (which exists and is empty).</summary>
    Task FetchAsync(ActivityListing listing, string directory, CancellationToken cancellationToken);
}

/// <summary>Makes the repository a <c>config.json</c> entry names.</summary>
public static class ActivityRepositories
{
    public static IActivityRepository Open(string location, HttpClient? http = null, string? baseDirectory = null)
    {
        if (Uri.TryCreate(location, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        {
            return new HttpActivityRepository(uri, http ?? new HttpClient());
        }

        var path = location.StartsWith("~/", StringComparison.Ordinal)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), location[2..])
            : Path.GetFullPath(location, baseDirectory ?? Directory.GetCurrentDirectory());
        return new DirectoryActivityRepository(path);
    }
}
