using Orleans;
using Orleans.Runtime;
using Trellis.TestKit;
using Trellis.Storage.Sqlite;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>The SQLite reminder table keeps Orleans' IReminderTable contract: ETags, ring ranges (with wrap-around), per-service rows.</summary>
public sealed class SqliteReminderTableTests : IAsyncLifetime
{
    private readonly TempFolder _folder = new();
    private readonly List<SqliteReminderTable> _started = [];
    private SqliteReminderTable _table = null!;

    private string DbPath => _folder.File("reminders.db");

    public async ValueTask InitializeAsync() => _table = await StartAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var table in _started)
        {
            await table.StopAsync();
        }

        _folder.Dispose();
    }

    [Fact]
    public async Task An_upserted_reminder_reads_back_exactly_with_an_etag()
    {
        var entry = NewEntry(NewGrain(), "foo/bar\\#b_a_z?");
        entry.StartAt = new DateTime(2026, 12, 4, 10, 11, 12, DateTimeKind.Utc).AddTicks(1234567);

        var etag = await _table.UpsertRow(entry);
        var read = await _table.ReadRow(entry.GrainId, entry.ReminderName);

        Assert.NotNull(etag);
        Assert.NotNull(read);
        Assert.Equal(etag, read.ETag);
        Assert.Equal(entry.GrainId, read.GrainId);
        Assert.Equal(entry.ReminderName, read.ReminderName);
        Assert.Equal(entry.StartAt, read.StartAt);
        Assert.Equal(DateTimeKind.Utc, read.StartAt.Kind);
        Assert.Equal(entry.Period, read.Period);
        Assert.Null(await _table.ReadRow(entry.GrainId, "absent"));
    }

    [Fact]
    public async Task Remove_needs_the_current_etag_and_the_right_name()
    {
        var entry = NewEntry(NewGrain(), "tick");
        var first = await _table.UpsertRow(entry);
        entry.StartAt = entry.StartAt.AddMinutes(1);
        var second = await _table.UpsertRow(entry);

        Assert.NotEqual(first, second);
        Assert.False(await _table.RemoveRow(entry.GrainId, entry.ReminderName, first!), "an old ETag must not remove the reminder");
        Assert.False(await _table.RemoveRow(entry.GrainId, "other", second!), "another name must not match");
        Assert.False(await _table.RemoveRow(entry.GrainId, entry.ReminderName, "not-an-etag"), "a foreign ETag must not match");
        Assert.True(await _table.RemoveRow(entry.GrainId, entry.ReminderName, second!), "the current ETag removes it");
        Assert.False(await _table.RemoveRow(entry.GrainId, entry.ReminderName, second!), "it is gone");
        Assert.Null(await _table.ReadRow(entry.GrainId, entry.ReminderName));
    }

    [Fact]
    public async Task The_etag_of_a_removed_reminder_does_not_match_its_re_created_successor()
    {
        var entry = NewEntry(NewGrain(), "tick");
        var old = await _table.UpsertRow(entry);
        Assert.True(await _table.RemoveRow(entry.GrainId, entry.ReminderName, old!));

        var renewed = await _table.UpsertRow(entry);

        Assert.NotEqual(old, renewed);
        Assert.False(await _table.RemoveRow(entry.GrainId, entry.ReminderName, old!));
        Assert.NotNull(await _table.ReadRow(entry.GrainId, entry.ReminderName));
    }

    [Fact]
    public async Task Concurrent_upserts_of_one_reminder_each_get_their_own_etag()
    {
        var grain = NewGrain();
        var etags = await Task.WhenAll(Enumerable.Range(0, 25).Select(i =>
        {
            var entry = NewEntry(grain, "shared");
            entry.StartAt = entry.StartAt.AddMilliseconds(i);
            return _table.UpsertRow(entry);
        }));

        Assert.Equal(25, etags.Distinct().Count());
        var stored = await _table.ReadRow(grain, "shared");
        Assert.Contains(stored!.ETag, etags);
    }

    [Fact]
    public async Task Reading_by_grain_returns_that_grains_reminders_only()
    {
        var grain = NewGrain();
        await _table.UpsertRow(NewEntry(grain, "a"));
        await _table.UpsertRow(NewEntry(grain, "b"));
        await _table.UpsertRow(NewEntry(NewGrain(), "a"));

        var rows = await _table.ReadRows(grain);

        Assert.Equal(["a", "b"], rows.Reminders.Select(r => r.ReminderName).Order(StringComparer.Ordinal));
        Assert.All(rows.Reminders, r => Assert.Equal(grain, r.GrainId));
    }

    [Fact]
    public async Task Ring_ranges_are_begin_exclusive_end_inclusive_and_wrap_around_when_begin_is_not_below_end()
    {
        var entries = Enumerable.Range(0, 300).Select(i => NewEntry(NewGrain(), $"r{i}")).ToList();
        await Task.WhenAll(entries.Select(e => _table.UpsertRow(e)));
        var hashes = entries.Select(e => e.GrainId.GetUniformHashCode()).Order().ToArray();
        var (low, mid, high) = (hashes[10], hashes[150], hashes[290]);

        var ranges = new List<(uint Begin, uint End)>
        {
            (0, uint.MaxValue),   // everything but hash 0
            (0, 0),               // begin = end: the whole ring
            (mid, mid),           // also the whole ring
            (low, high),          // plain: low itself excluded, high included
            (high, low),          // wraps: above high, and up to low inclusive
            (mid, 0),             // wraps to the very start
            (uint.MaxValue, mid), // wraps from the very end
            (low - 1, low),       // exactly one hash
            (low, low + 0),       // whole ring again, written differently
        };
        var random = new Random(20261204);
        for (var i = 0; i < 40; i++)
        {
            ranges.Add(((uint)random.NextInt64(0, uint.MaxValue + 1L), (uint)random.NextInt64(0, uint.MaxValue + 1L)));
        }

        foreach (var (begin, end) in ranges)
        {
            var rows = await _table.ReadRows(begin, end);
            var expected = entries
                .Where(e => InRange(e.GrainId.GetUniformHashCode(), begin, end))
                .Select(e => (e.GrainId, e.ReminderName))
                .ToHashSet();
            var actual = rows.Reminders.Select(r => (r.GrainId, r.ReminderName)).ToHashSet();
            Assert.True(expected.SetEquals(actual), $"range ({begin}, {end}]: expected {expected.Count} reminders, got {actual.Count}");
        }

        Assert.Single((await _table.ReadRows(low - 1, low)).Reminders);
        Assert.Equal(entries.Count, (await _table.ReadRows(0, 0)).Reminders.Count);

        // Orleans' contract, stated independently of the SQL: (begin, end] when begin < end, else the complement of (end, begin].
        static bool InRange(uint hash, uint begin, uint end) => begin < end ? hash > begin && hash <= end : hash > begin || hash <= end;
    }

    [Fact]
    public async Task Services_sharing_a_file_see_only_their_own_reminders_and_clear_only_their_own()
    {
        var other = await StartAsync("other-service");
        var grain = NewGrain();
        await _table.UpsertRow(NewEntry(grain, "mine"));
        await other.UpsertRow(NewEntry(grain, "theirs"));

        Assert.Equal("mine", Assert.Single((await _table.ReadRows(grain)).Reminders).ReminderName);
        Assert.Equal("theirs", Assert.Single((await other.ReadRows(0, 0)).Reminders).ReminderName);

        await other.TestOnlyClearTable();

        Assert.Empty((await other.ReadRows(0, 0)).Reminders);
        Assert.Single((await _table.ReadRows(0, 0)).Reminders);
    }

    [Fact]
    public async Task Reminders_survive_closing_and_reopening_the_file()
    {
        var entry = NewEntry(NewGrain(), "durable");
        var etag = await _table.UpsertRow(entry);
        await _table.StopAsync();
        _started.Remove(_table);

        var reopened = await StartAsync();
        var read = await reopened.ReadRow(entry.GrainId, entry.ReminderName);

        Assert.Equal(etag, read?.ETag);
        Assert.Equal(entry.StartAt, read!.StartAt);
        Assert.True(await reopened.RemoveRow(entry.GrainId, entry.ReminderName, etag!));
    }

    private async Task<SqliteReminderTable> StartAsync(string serviceId = "service")
    {
        var table = await Providers.StartRemindersAsync(DbPath, serviceId);
        _started.Add(table);
        return table;
    }

    private static GrainId NewGrain()
        => GrainId.Create(GrainType.Create("remindable"), GrainIdKeyExtensions.CreateGuidKey(Guid.NewGuid(), "ext/with#odd?chars"));

    private static ReminderEntry NewEntry(GrainId grain, string name)
    {
        var now = DateTime.UtcNow;
        return new ReminderEntry
        {
            GrainId = grain,
            ReminderName = name,
            StartAt = new DateTime(now.Year, now.Month, now.Day, now.Hour, now.Minute, now.Second, DateTimeKind.Utc),
            Period = TimeSpan.FromMinutes(1),
        };
    }
}
