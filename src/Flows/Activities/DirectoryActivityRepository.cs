using Trellis.Flows.Activities.Internal;
using Trellis.Core.Errors;

namespace Trellis.Flows.Activities;

/// <summary>A directory whose subdirectories are activities (each with its <c>activity.json</c>); subdirectories
/// without a valid manifest are skipped.</summary>
public sealed class DirectoryActivityRepository(string path) : IActivityRepository
{
    public string Location => path;

    public Task<IReadOnlyList<ActivityListing>> ListAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(path))
        {
            throw new TrellisException(ErrorKind.NotFound, $"repository {path}: no such directory");
        }

        var list = new List<ActivityListing>();
        foreach (var dir in Directory.EnumerateDirectories(path).Order(StringComparer.Ordinal))
        {
            if (!File.Exists(Path.Combine(dir, ActivityManifest.FileName)))
            {
                continue;
            }

            try
            {
                var m = ActivityManifest.Load(dir);
                list.Add(new ActivityListing(m.Id, m.Name, m.Version, m.Description, m.Tags, dir));
            }
            catch (TrellisException)
            {
                // A broken activity in a repository does not hide the others; install names the problem if it is chosen.
            }
        }

        return Task.FromResult<IReadOnlyList<ActivityListing>>(list);
    }

    public Task FetchAsync(ActivityListing listing, string directory, CancellationToken cancellationToken)
    {
        ActivityFiles.CopyDirectory(listing.Location, directory);
        return Task.CompletedTask;
    }
}
