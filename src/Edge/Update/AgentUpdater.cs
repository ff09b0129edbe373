using System.Diagnostics;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Contracts.V1;
using Trellis.Edge.Daemon;
using Trellis.Edge.Update.Internal;

namespace Trellis.Edge.Update;

/// <summary>The agent's self-update: takes a build the cluster offers, downloads and verifies it, swaps it in for the running
/// executable and restarts into it; rolls back and marks the build bad when the new agent does not say it is ready.</summary>
/// <remarks>
/// Sequence (issue 12, item 6): download GET &lt;gateway&gt;/edge/builds/&lt;arch&gt;/binary to WorkDir/update, check size and
/// SHA-256; copy the running executable to WorkDir/update/previous; rename the new one over it; let the daemon release its
/// listeners and link (<see cref="AgentUpdateHost.Release"/>); start the new executable with the same arguments and
/// <see cref="UpdatedFromVariable"/> and <see cref="ReadyFileVariable"/> set; the new agent calls
/// <see cref="SignalReadyIfUpdated"/> once it is up. Ready within <see cref="ReadyTimeout"/>: this process exits with 0
/// (jobs are processes of their own and keep running). Otherwise the new process is killed, the previous executable
/// renamed back, the build recorded in WorkDir/update/bad.json and the daemon resumed.
/// </remarks>
public sealed partial class AgentUpdater : IDisposable
{
    /// <summary>Set for the new agent: the version it replaces.</summary>
    public const string UpdatedFromVariable = "TRELLIS_EDGE_UPDATED_FROM";

    /// <summary>Set for the new agent: the file it writes once it is up.</summary>
    public const string ReadyFileVariable = "TRELLIS_EDGE_UPDATE_READY";

    /// <summary>The header naming the device on a download (beside its bearer token).</summary>
    public const string DeviceHeader = "X-Trellis-Device";

    private const long MaxBuildBytes = 1L << 30;

    private readonly EdgeOptions _options;
    private readonly AgentUpdateHost _host;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly BadBuilds _bad;
    private int _busy;

    public AgentUpdater(EdgeOptions options, AgentUpdateHost? host = null, HttpClient? http = null, ILogger? logger = null, TimeProvider? time = null)
    {
        _options = options;
        _host = host ?? new AgentUpdateHost();
        _ownsHttp = http is null;
        _http = http ?? new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _bad = new BadBuilds(Path.Combine(UpdateDirectory, "bad.json"));
    }

    /// <summary>This agent's architecture, as builds name it (the .NET runtime identifier: linux-arm64, linux-x64).</summary>
    public string Arch { get; init; } = RuntimeInformation.RuntimeIdentifier;

    /// <summary>The running agent's version.</summary>
    public string CurrentVersion { get; init; } = AgentVersion.Current;

    /// <summary>How long the new agent has to say it is ready before the update is rolled back.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>WorkDir/update: downloads, the previous executable, bad.json.</summary>
    public string UpdateDirectory => Path.Combine(_options.WorkDir, "update");

    /// <summary>Where the executable that was replaced is kept.</summary>
    public string PreviousPath => Path.Combine(UpdateDirectory, "previous");

    /// <summary>Whether a build was recorded as bad (failed its checksum or failed to start).</summary>
    public bool IsMarkedBad(BuildInfo build) => _bad.Contains(build);

    /// <summary>Called by a freshly started agent once it serves: when an update started it, writes the ready file the old
    /// agent waits for and returns the version it replaced; otherwise returns null. The variables are removed, so the
    /// agent's jobs do not inherit them.</summary>
    public static string? SignalReadyIfUpdated()
    {
        var ready = Environment.GetEnvironmentVariable(ReadyFileVariable);
        var from = Environment.GetEnvironmentVariable(UpdatedFromVariable);
        Environment.SetEnvironmentVariable(ReadyFileVariable, null);
        Environment.SetEnvironmentVariable(UpdatedFromVariable, null);
        return SignalReady(ready, from) ? from ?? "" : null;
    }

    internal static bool SignalReady(string? readyPath, string? from)
    {
        if (string.IsNullOrEmpty(readyPath))
        {
            return false;
        }

        // Written aside and renamed, so the old agent never sees a half-written file.
        var temp = readyPath + ".tmp";
        File.WriteAllText(temp, $"{AgentVersion.Current} {Environment.ProcessId} from {from}\n");
        File.Move(temp, readyPath, overwrite: true);
        return true;
    }

    /// <summary>Considers a build the cluster offers and, when it is for this agent, updates to it. On
    /// <see cref="UpdateResult.Swapped"/> the host has been asked to exit.</summary>
    public async Task<UpdateOutcome> OfferAsync(BuildInfo build, CancellationToken cancellationToken)
    {
        if (Check(build) is { } ignored)
        {
            LogIgnored(_logger, build.Arch, build.Version, ignored);
            return new UpdateOutcome(UpdateResult.Ignored, ignored);
        }

        if (Interlocked.Exchange(ref _busy, 1) == 1)
        {
            return new UpdateOutcome(UpdateResult.Ignored, "an update is already in progress");
        }

        try
        {
            Directory.CreateDirectory(UpdateDirectory);
            var download = Path.Combine(UpdateDirectory, "trellis-edge.download");
            var fetched = await DownloadAsync(build, download, cancellationToken);
            if (fetched is not null)
            {
                return fetched;
            }

            return await SwapAsync(build, download, cancellationToken);
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    private string? Check(BuildInfo build)
    {
        if (!_options.AutoUpdate)
        {
            return "auto-update is off";
        }

        if (!string.Equals(build.Arch, Arch, StringComparison.Ordinal))
        {
            return $"the build is for {build.Arch}, this agent runs on {Arch}";
        }

        if (!AgentVersionOrder.TryCompare(build.Version, CurrentVersion, out var order))
        {
            return $"version '{build.Version}' cannot be compared with {CurrentVersion}";
        }

        if (order <= 0)
        {
            return $"version {build.Version} is not newer than {CurrentVersion}";
        }

        if (build.Sha256.Length != 64 || !build.Sha256.All(Uri.IsHexDigit))
        {
            return $"the build's sha256 '{build.Sha256}' is not 64 hex digits";
        }

        if (build.Size is <= 0 or > MaxBuildBytes)
        {
            return $"the build's size {build.Size} is out of range";
        }

        if (build.Path.Length > 0 && (!build.Path.StartsWith('/') || build.Path.StartsWith("//", StringComparison.Ordinal)))
        {
            // The token goes with the request: only the gateway it belongs to is asked.
            return $"the build's path '{build.Path}' is not a path on the gateway";
        }

        if ((_options.GatewayHttp ?? _options.Gateway) is null)
        {
            return "no gateway to download from";
        }

        return _bad.Contains(build) ? $"build {build.Version} ({build.Sha256[..12]}) is marked bad in {_bad.Path}" : null;
    }

    private Uri DownloadUri(BuildInfo build)
    {
        var gateway = (_options.GatewayHttp ?? _options.Gateway)!.ToString().TrimEnd('/');
        var path = build.Path.Length > 0 ? build.Path : $"/edge/builds/{Uri.EscapeDataString(build.Arch)}/binary";
        return new Uri(gateway + path);
    }

    /// <summary>Downloads and verifies; null when the file is good, else the outcome.</summary>
    private async Task<UpdateOutcome?> DownloadAsync(BuildInfo build, string file, CancellationToken cancellationToken)
    {
        var uri = DownloadUri(build);
        LogDownloading(_logger, build.Version, uri);
        long total = 0;
        string actual;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            if (_options.Token is { Length: > 0 } token)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            request.Headers.TryAddWithoutValidation(DeviceHeader, _options.Provider ?? ProviderId.Current());
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var failed = $"GET {uri} answered {(int)response.StatusCode} {response.ReasonPhrase}";
                LogDownloadFailed(_logger, build.Version, failed, null);
                return new UpdateOutcome(UpdateResult.Failed, failed);
            }

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken))
            await using (var output = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                var buffer = new byte[81920];
                int read;
                while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    total += read;
                    if (total > build.Size)
                    {
                        break;
                    }

                    hash.AppendData(buffer, 0, read);
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
            }

            actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            File.Delete(file);
            var failed = $"GET {uri} failed: {e.Message}";
            LogDownloadFailed(_logger, build.Version, failed, e);
            return new UpdateOutcome(UpdateResult.Failed, failed);
        }

        var mismatch = total != build.Size
            ? $"size {(total > build.Size ? $"over {build.Size}" : total)} bytes, expected {build.Size}"
            : !string.Equals(actual, build.Sha256, StringComparison.OrdinalIgnoreCase)
                ? $"SHA-256 {actual}, expected {build.Sha256.ToLowerInvariant()}"
                : null;
        if (mismatch is null)
        {
            return null;
        }

        File.Delete(file);
        _bad.Add(build, $"download did not match: {mismatch}", _time.GetUtcNow());
        LogRejected(_logger, build.Version, uri, mismatch);
        return new UpdateOutcome(UpdateResult.Rejected, $"the download of {build.Version} did not match: {mismatch}; marked bad");
    }

    private async Task<UpdateOutcome> SwapAsync(BuildInfo build, string download, CancellationToken cancellationToken)
    {
        var executable = _host.ExecutablePath;
        var mode = OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(executable);
        LogSwapping(_logger, CurrentVersion, build.Version, executable);

        // The previous executable is kept aside first; then the new one is written beside the running one (same file
        // system) and renamed over it: the path always holds a whole executable, and the running process keeps its image.
        File.Copy(executable, PreviousPath, overwrite: true);
        Replace(executable, download, mode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        File.Delete(download);

        var ready = Path.Combine(UpdateDirectory, $"ready-{Guid.NewGuid():N}");
        Process? started = null;
        string failure;
        try
        {
            await _host.Release(cancellationToken);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not the build's fault: put the previous executable back and let the build be offered again.
            Replace(executable, PreviousPath, mode);
            LogReleaseFailed(_logger, build.Version, e);
            await _host.Resume(CancellationToken.None);
            return new UpdateOutcome(UpdateResult.Failed, $"the daemon could not release its listeners and link for {build.Version}: {e.Message}");
        }

        try
        {
            var info = new ProcessStartInfo(executable) { UseShellExecute = false };
            foreach (var argument in _host.Arguments)
            {
                info.ArgumentList.Add(argument);
            }

            info.Environment[UpdatedFromVariable] = CurrentVersion;
            info.Environment[ReadyFileVariable] = ready;
            started = await StartAsync(info, cancellationToken);
            failure = await WaitReadyAsync(started, ready, cancellationToken);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failure = $"{e.GetType().Name}: {e.Message}";
        }

        if (failure.Length == 0)
        {
            File.Delete(ready);
            LogSwapped(_logger, build.Version, started!.Id);
            _host.Exit(0);
            return new UpdateOutcome(UpdateResult.Swapped, $"{build.Version} is running (pid {started.Id}); this agent exits");
        }

        // Rollback: stop what was started, put the previous executable back, never try this build again, carry on.
        StopQuietly(started);
        Replace(executable, PreviousPath, mode);
        File.Delete(ready);
        _bad.Add(build, $"did not start: {failure}", _time.GetUtcNow());
        LogRolledBack(_logger, build.Version, failure, CurrentVersion);
        await _host.Resume(CancellationToken.None);
        return new UpdateOutcome(UpdateResult.RolledBack, $"{build.Version} did not start ({failure}); {CurrentVersion} restored and the build marked bad");
    }

    /// <summary>Starts the new executable, again after a moment while the kernel says it is busy (ETXTBSY): a process
    /// this one forked (a job) between the executable's write and its close holds a copy of the write handle until it
    /// execs, and Linux refuses to run a file open for writing.</summary>
    private async Task<Process> StartAsync(ProcessStartInfo info, CancellationToken cancellationToken)
    {
        const int TextFileBusy = 26;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return _host.Start(info);
            }
            catch (System.ComponentModel.Win32Exception e) when (e.NativeErrorCode == TextFileBusy && attempt < 10)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20 * attempt), _time, cancellationToken);
            }
        }
    }

    /// <summary>Waits for the ready file; "" when it appeared, else why not.</summary>
    private async Task<string> WaitReadyAsync(Process process, string ready, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        while (true)
        {
            if (File.Exists(ready))
            {
                return "";
            }

            if (process.HasExited)
            {
                // It may have written the file just before it ended.
                return File.Exists(ready) ? "" : $"it exited with code {process.ExitCode} before it was ready";
            }

            if (_time.GetElapsedTime(started) >= ReadyTimeout)
            {
                return $"it was not ready within {ReadyTimeout.TotalSeconds:0.#} s";
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken);
        }
    }

    private static void Replace(string executable, string source, UnixFileMode mode)
    {
        var staged = executable + ".update";
        File.Copy(source, staged, overwrite: true);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(staged, mode);
        }

        File.Move(staged, executable, overwrite: true);
    }

    private static void StopQuietly(Process? process)
    {
        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // It ended meanwhile.
        }

        process.Dispose();
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Build {Arch} {Version} ignored: {Reason}")]
    private static partial void LogIgnored(ILogger logger, string arch, string version, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Downloading agent {Version} from {Uri}")]
    private static partial void LogDownloading(ILogger logger, string version, Uri uri);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Download of agent {Version} failed: {Reason}")]
    private static partial void LogDownloadFailed(ILogger logger, string version, string reason, Exception? exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Agent {Version} from {Uri} discarded and marked bad: {Mismatch}")]
    private static partial void LogRejected(ILogger logger, string version, Uri uri, string mismatch);

    [LoggerMessage(Level = LogLevel.Information, Message = "Updating the agent from {From} to {To} ({Executable})")]
    private static partial void LogSwapping(ILogger logger, string from, string to, string executable);

    [LoggerMessage(Level = LogLevel.Error, Message = "Update to {Version} abandoned: the daemon could not release its listeners and link")]
    private static partial void LogReleaseFailed(ILogger logger, string version, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent {Version} is ready (pid {Pid}); exiting")]
    private static partial void LogSwapped(ILogger logger, string version, int pid);

    [LoggerMessage(Level = LogLevel.Error, Message = "Agent {Version} did not start ({Failure}): rolled back to {Previous} and marked bad")]
    private static partial void LogRolledBack(ILogger logger, string version, string failure, string previous);
}
