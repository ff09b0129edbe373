using Trellis.Core.Persistence;
using Xunit;

namespace Trellis.TestKit.Persistence;

/// <summary>What every <see cref="IReminderTable"/> must do: keep reminders per grain, find them by shard, and remember the last firing.</summary>
public abstract class ReminderTableConformance : StateStoreConformance
{
    private static readonly DateTimeOffset T0 = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private IReminderTable Reminders => Store.Reminders;

    [Fact]
    public async Task Upserted_reminders_are_read_back_per_grain_in_name_order()
    {
        var key = NewId("g");
        var daily = new ReminderEntry("cart", key, "daily", 4, T0, TimeSpan.FromDays(1));
        var hourly = new ReminderEntry("cart", key, "hourly", 4, T0.AddMinutes(30), TimeSpan.FromHours(1), T0.AddHours(2));
        await Reminders.UpsertAsync(hourly, Ct);
        await Reminders.UpsertAsync(daily, Ct);
        await Reminders.UpsertAsync(daily with { GrainKey = NewId("other") }, Ct);

        Assert.Equal([daily, hourly], await Reminders.ReadByGrainAsync("cart", key, Ct));
        Assert.Equal(hourly, await Reminders.ReadAsync("cart", key, "hourly", Ct));
        Assert.Null(await Reminders.ReadAsync("cart", key, "weekly", Ct));
    }

    [Fact]
    public async Task Upsert_replaces_the_whole_reminder()
    {
        var key = NewId("g");
        var original = new ReminderEntry("cart", key, "r", 1, T0, TimeSpan.FromMinutes(5), T0.AddMinutes(5));
        await Reminders.UpsertAsync(original, Ct);

        var replaced = original with { Shard = 2, StartAt = T0.AddHours(1), Period = TimeSpan.FromMinutes(10), LastFiredAt = null };
        await Reminders.UpsertAsync(replaced, Ct);

        Assert.Equal(replaced, Assert.Single(await Reminders.ReadByGrainAsync("cart", key, Ct)));
        Assert.Empty(await Reminders.ReadByShardAsync(1, Ct));
    }

    [Fact]
    public async Task Remove_deletes_one_reminder_and_reports_whether_it_existed()
    {
        var key = NewId("g");
        await Reminders.UpsertAsync(new ReminderEntry("cart", key, "a", 1, T0, TimeSpan.FromMinutes(1)), Ct);
        await Reminders.UpsertAsync(new ReminderEntry("cart", key, "b", 1, T0, TimeSpan.FromMinutes(1)), Ct);

        Assert.True(await Reminders.RemoveAsync("cart", key, "a", Ct));
        Assert.False(await Reminders.RemoveAsync("cart", key, "a", Ct));

        Assert.Equal("b", Assert.Single(await Reminders.ReadByGrainAsync("cart", key, Ct)).Name);
    }

    [Fact]
    public async Task Reminders_are_found_by_shard_and_by_shard_range()
    {
        var period = TimeSpan.FromMinutes(1);
        var onShard = new Dictionary<int, ReminderEntry>();
        foreach (var shard in new[] { 0, 3, 4, 7, 8 })
        {
            onShard[shard] = new ReminderEntry("timer", $"key-{shard}", "tick", shard, T0, period);
            await Reminders.UpsertAsync(onShard[shard], Ct);
        }

        var second = new ReminderEntry("alarm", "key-x", "ring", 4, T0, period);
        await Reminders.UpsertAsync(second, Ct);

        Assert.Equal([second, onShard[4]], await Reminders.ReadByShardAsync(4, Ct));
        Assert.Empty(await Reminders.ReadByShardAsync(5, Ct));
        Assert.Equal([onShard[3], second, onShard[4], onShard[7]], await Reminders.ReadByShardRangeAsync(3, 8, Ct));
        Assert.Equal([onShard[0]], await Reminders.ReadByShardRangeAsync(0, 1, Ct));
        Assert.Empty(await Reminders.ReadByShardRangeAsync(5, 5, Ct));
    }

    [Fact]
    public async Task A_reminder_missed_for_many_periods_is_due_once_after_recovery()
    {
        var key = NewId("g");
        var reminder = new ReminderEntry("cart", key, "poll", 2, T0, TimeSpan.FromMinutes(1));
        await Reminders.UpsertAsync(reminder, Ct);

        // The silo was down for ten periods: on recovery the reminder is due once...
        var recoveredAt = T0.AddMinutes(10).AddSeconds(20);
        var loaded = Assert.Single(await Reminders.ReadByShardAsync(2, Ct));
        Assert.True(loaded.IsDueAt(recoveredAt), $"expected the reminder to be due at {recoveredAt:O} (next due {loaded.NextDueAt:O})");
        Assert.True(await Reminders.MarkFiredAsync("cart", key, "poll", recoveredAt, Ct));

        // ...and after that firing it is next due at the following period, not ten more times.
        var fired = Assert.Single(await Reminders.ReadByShardAsync(2, Ct));
        Assert.Equal(recoveredAt, fired.LastFiredAt);
        Assert.False(fired.IsDueAt(recoveredAt));
        Assert.Equal(T0.AddMinutes(11), fired.NextDueAt);
    }

    [Fact]
    public async Task Marking_an_unknown_reminder_fired_reports_false()
    {
        Assert.False(await Reminders.MarkFiredAsync("cart", NewId("g"), "none", T0, Ct));
    }

    [Fact]
    public async Task Bad_input_is_refused_naming_the_parameter()
    {
        var valid = new ReminderEntry("cart", "k", "r", 1, T0, TimeSpan.FromMinutes(1));

        await ExpectArgumentErrorAsync("reminder", () => Reminders.UpsertAsync(null!, Ct));
        await ExpectArgumentErrorAsync("reminder", () => Reminders.UpsertAsync(valid with { GrainType = "" }, Ct));
        await ExpectArgumentErrorAsync("reminder", () => Reminders.UpsertAsync(valid with { Name = "" }, Ct));
        await ExpectArgumentErrorAsync("reminder", () => Reminders.UpsertAsync(valid with { Period = TimeSpan.Zero }, Ct));
        await ExpectArgumentErrorAsync("reminder", () => Reminders.UpsertAsync(valid with { Shard = -1 }, Ct));
        await ExpectArgumentErrorAsync("grainKey", () => Reminders.RemoveAsync("cart", "", "r", Ct));
        await ExpectArgumentErrorAsync("name", () => Reminders.MarkFiredAsync("cart", "k", "", T0, Ct));
        await ExpectArgumentErrorAsync("shard", () => Reminders.ReadByShardAsync(-1, Ct));
        await ExpectArgumentErrorAsync("toShard", () => Reminders.ReadByShardRangeAsync(5, 4, Ct));

        Assert.Empty(await Reminders.ReadByGrainAsync("cart", "k", Ct));
    }
}
