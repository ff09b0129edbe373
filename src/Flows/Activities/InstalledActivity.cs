namespace Trellis.Flows.Activities;

/// <summary>An activity in a home: its manifest, its directory, its tags (the manifest's and this host's) and whether it is enabled.</summary>
public sealed record InstalledActivity(ActivityManifest Manifest, string Directory, IReadOnlyList<string> Tags, bool Enabled);
