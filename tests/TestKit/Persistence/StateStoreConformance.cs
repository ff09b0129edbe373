using System.Text;
using Trellis.Core.Persistence;
using Xunit;
using Xunit.Sdk;

namespace Trellis.TestKit.Persistence;

/// <summary>Shared set-up of the store conformance suites: a fresh, empty store per test, a manual clock, and helpers.</summary>
/// <remarks>
/// A backend's test class derives from a suite and implements <see cref="OpenStoreAsync"/>. Each test gets its own
/// store (a new file, schema or instance), so tests run in parallel against one database server.
/// </remarks>
public abstract class StateStoreConformance : IAsyncLifetime
{
    /// <summary>The state size limit the suites configure, small so the oversize test stays cheap.</summary>
    protected const int StateLimit = 64 * 1024;

    protected static readonly TimeSpan LongTtl = TimeSpan.FromMinutes(10);

    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    private IStateStore? _store;

    protected ManualTimeProvider Clock { get; } = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

    protected IStateStore Store => _store ?? throw new InvalidOperationException("The store is opened in InitializeAsync.");

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A lease ttl that tests let run out: on a manual clock any length works; on a database clock it must be short.</summary>
    protected TimeSpan ShortTtl => (Store as IDatabaseClockStore)?.ShortLeaseTtl ?? TimeSpan.FromSeconds(30);

    /// <summary>Opens a fresh, empty store. A store that takes time from a TimeProvider must use <see cref="StoreSetup.Clock"/>.</summary>
    protected abstract ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup);

    public async ValueTask InitializeAsync()
        => _store = await OpenStoreAsync(new StoreSetup(Clock, new GrainStorageOptions { MaxStateBytes = StateLimit }));

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Makes the store's clock pass <paramref name="instant"/>: moves the manual clock, or waits for the database clock.</summary>
    protected async ValueTask LetStoreClockPassAsync(DateTimeOffset instant)
    {
        if (Store is IDatabaseClockStore databaseClock)
        {
            await WithinAsync(databaseClock.WaitUntilAsync(instant, Ct).AsTask(), $"the database clock to pass {instant:O}");
        }
        else
        {
            Clock.AdvanceTo(instant);
        }
    }

    /// <summary>The store's clock now, as the store reports it.</summary>
    protected async Task<DateTimeOffset> StoreNowAsync() => (await Store.Leases.ReadAllAsync(Ct)).Now;

    protected static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    protected static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    protected static string Text(byte[]? data) => data is null ? "<none>" : Encoding.UTF8.GetString(data);

    /// <summary>Waits for <paramref name="task"/>, failing with a message naming what was expected when it takes too long.</summary>
    protected static async Task WithinAsync(Task task, string expectation)
    {
        try
        {
            await task.WaitAsync(WaitLimit, Ct);
        }
        catch (TimeoutException)
        {
            throw new XunitException($"Timed out after {WaitLimit.TotalSeconds:0} s waiting for {expectation}.");
        }
    }

    /// <summary>Asserts that <paramref name="act"/> fails with an ArgumentException naming <paramref name="parameter"/>.</summary>
    protected static async Task ExpectArgumentErrorAsync(string parameter, Func<Task> act)
    {
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(act);
        Assert.Equal(parameter, error.ParamName);
    }
}
