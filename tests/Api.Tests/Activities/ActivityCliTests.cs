using Trellis.Flows.Activities;
using Trellis.TestKit;
using static Trellis.Api.Tests.Activities.ActivityTesting;

namespace Trellis.Api.Tests.Activities;

/// <summary>The <c>trellis activity</c> verbs on a temporary home, run in-process.</summary>
public sealed class ActivityCliTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly string _home;

    public ActivityCliTests()
    {
        _home = Path.Combine(_temp.Path, "home");
    }

    public void Dispose() => _temp.Dispose();

    private Task<Run> Activity(params string[] args) => CliAsync(["activity", .. args, "--home", _home]);

    [Fact]
    public async Task Init_create_list_tag_enable_disable_uninstall()
    {
        var init = await Activity("init");
        Assert.True(init.Exit == 0, init.ToString());
        Assert.Contains("created", init.Out);
        Assert.Contains("exists already", (await Activity("init")).Out);

        var create = await Activity("create", "@me/hello", "--lang", "sh");
        Assert.True(create.Exit == 0, create.ToString());
        var id = create.Out.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[2];
        Assert.True(Guid.TryParse(id, out _), create.Out);
        Assert.True(File.Exists(Path.Combine(_home, "activities", id, "main.sh")));

        var list = await Activity("list");
        Assert.Contains("total 1", list.Out);
        Assert.Contains($"{id}  @me/hello  0.1.0    no       sh", list.Out);

        Assert.Equal(0, (await Activity("tag", "@me/hello", "edge", "blue")).Exit);
        Assert.Equal(0, (await Activity("enable", "tag:blue")).Exit);
        Assert.Contains("yes      sh,edge,blue", (await Activity("ls")).Out);

        var disable = await Activity("disable", id);
        Assert.Equal(0, disable.Exit);
        Assert.Contains("still enabled by tag:blue", disable.Out);
        Assert.Equal(0, (await Activity("disable", "tag:blue")).Exit);
        Assert.Contains("no       sh,edge,blue", (await Activity("list")).Out);

        Assert.Equal(0, (await Activity("uninstall", "@me/hello")).Exit);
        Assert.Contains("total 0", (await Activity("list")).Out);
    }

    [Fact]
    public async Task Install_and_enable_from_a_directory_repository()
    {
        await Activity("init");
        var store = new ActivityStore(_home);
        var config = store.LoadConfig();
        config.Repositories.Add(SamplesDirectory);
        store.SaveConfig(config);

        var install = await Activity("install", "@samples/upper");
        Assert.True(install.Exit == 0, install.ToString());
        Assert.Contains($"installed @samples/upper 1.0.0 {UpperId}", install.Out);

        var enable = await Activity("enable", TeeId);
        Assert.True(enable.Exit == 0, enable.ToString());
        Assert.Contains("enabled tee", enable.Out);
        Assert.Equal(["tee"], store.ListEnabled().Select(static a => a.Manifest.Name));
    }

    [Fact]
    public async Task Errors_have_clear_messages_and_exit_codes()
    {
        var noHome = await Activity("list");
        Assert.Equal(1, noHome.Exit);
        Assert.Contains("run 'trellis activity init'", noHome.Err);

        await Activity("init");
        var badName = await Activity("create", "Bad Name");
        Assert.Equal(2, badName.Exit);
        Assert.Contains("NAME 'Bad Name' is not a valid activity name", badName.Err);

        var badLang = await Activity("create", "ok", "--lang", "cobol");
        Assert.Equal(2, badLang.Exit);

        var missing = await Activity("uninstall", "nothing");
        Assert.Equal(1, missing.Exit);
        Assert.Contains("activity 'nothing' is not installed", missing.Err);

        var noRepos = await Activity("install", "x");
        Assert.Equal(1, noRepos.Exit);
        Assert.Contains("no repositories", noRepos.Err);

        var badPair = await Activity("connect", "a-b");
        Assert.Equal(2, badPair.Exit);
        Assert.Contains("is not A:B", badPair.Err);

        var badBroker = await CliAsync("host", "--home", _home, "--broker", "http://x");
        Assert.Equal(2, badBroker.Exit);
        Assert.Contains("--broker must be an amqp://", badBroker.Err);

        var usage = await CliAsync("activity", "tag");
        Assert.Equal(2, usage.Exit);
    }

    [Fact]
    public async Task A_broken_activity_in_the_home_is_skipped_with_a_message()
    {
        await Activity("init");
        var dir = Path.Combine(_home, "activities", Guid.NewGuid().ToString());
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "activity.json"), """{"id":"nope","name":"x","entry":["sh"]}""", TestContext.Current.CancellationToken);

        var list = await Activity("list");

        Assert.Equal(0, list.Exit);
        Assert.Contains("total 0", list.Out);
        Assert.Contains("field 'id' must be a UUID", list.Err);
    }
}
