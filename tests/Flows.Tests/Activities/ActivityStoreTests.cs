using System.Text.Json.Nodes;
using Trellis.Core.Errors;
using Trellis.Flows.Activities;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Flows.Tests.Activities;

public sealed class ActivityStoreTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly ActivityStore _store;

    public ActivityStoreTests()
    {
        _store = new ActivityStore(Path.Combine(_temp.Path, "home"));
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Init_creates_the_home_once()
    {
        Assert.True(_store.Initialize());
        Assert.False(_store.Initialize());
        Assert.True(Directory.Exists(_store.ActivitiesDirectory));
        Assert.Empty(_store.LoadConfig().Repositories);
    }

    [Fact]
    public void Without_a_home_the_error_says_to_run_init()
    {
        var e = Assert.Throws<TrellisException>(() => _store.List());

        Assert.Equal(ErrorKind.FailedPrecondition, e.Kind);
        Assert.Contains("trellis activity init", e.Message);
    }

    [Theory]
    [InlineData("python", "main.py")]
    [InlineData("node", "main.js")]
    [InlineData("sh", "main.sh")]
    public void Create_writes_a_manifest_and_a_starter_program(string lang, string file)
    {
        _store.Initialize();

        var a = _store.Create("@me/hello", lang);

        Assert.Equal(Path.Combine(_store.ActivitiesDirectory, a.Manifest.Id.ToString()), a.Directory);
        Assert.True(File.Exists(Path.Combine(a.Directory, file)));
        Assert.Equal(a.Manifest.Id, ActivityManifest.Load(a.Directory).Id);
        Assert.False(a.Enabled);
        Assert.Equal("hello", Assert.Single(_store.List()).Manifest.Name.Split('/')[1]);
    }

    [Fact]
    public void Create_refuses_a_bad_name_a_bad_language_and_a_duplicate()
    {
        _store.Initialize();
        _store.Create("dup", "sh");

        Assert.Contains("NAME 'Bad'", Assert.Throws<TrellisException>(() => _store.Create("Bad", "sh")).Message);
        Assert.Contains("--lang must be one of", Assert.Throws<TrellisException>(() => _store.Create("ok", "cobol")).Message);
        Assert.Equal(ErrorKind.AlreadyExists, Assert.Throws<TrellisException>(() => _store.Create("dup", "sh")).Kind);
    }

    [Fact]
    public async Task Install_from_a_directory_repository_by_name_and_by_id()
    {
        _store.Initialize();
        var config = _store.LoadConfig();
        config.Repositories.Add(Samples.Directory);
        _store.SaveConfig(config);

        var upper = await _store.InstallAsync("@samples/upper", CancellationToken.None);
        var tee = await _store.InstallAsync(Samples.TeeId, CancellationToken.None);

        Assert.Equal(Samples.UpperId, upper.Manifest.Id.ToString());
        Assert.True(File.Exists(Path.Combine(upper.Directory, "main.py")));
        Assert.Equal("tee", tee.Manifest.Name);
        Assert.Equal(2, _store.List().Count);
        Assert.Equal(upper.Directory, (await _store.InstallAsync("@samples/upper", CancellationToken.None)).Directory);
    }

    [Fact]
    public async Task Install_of_an_unknown_activity_names_the_repositories()
    {
        _store.Initialize();
        var e1 = await Assert.ThrowsAsync<TrellisException>(() => _store.InstallAsync("nope", CancellationToken.None));
        Assert.Equal(ErrorKind.FailedPrecondition, e1.Kind);

        var config = _store.LoadConfig();
        config.Repositories.Add(Samples.Directory);
        _store.SaveConfig(config);
        var e2 = await Assert.ThrowsAsync<TrellisException>(() => _store.InstallAsync("nope", CancellationToken.None));
        Assert.Equal(ErrorKind.NotFound, e2.Kind);
        Assert.Contains(Samples.Directory, e2.Message);
    }

    [Fact]
    public async Task Enable_by_id_name_and_tag_and_disable()
    {
        _store.Initialize();
        var config = _store.LoadConfig();
        config.Repositories.Add(Samples.Directory);
        _store.SaveConfig(config);

        // Enabling installs what is not installed yet.
        var enabled = await _store.EnableAsync("@samples/upper", CancellationToken.None);
        Assert.True(Assert.Single(enabled).Enabled);
        Assert.Single(_store.ListEnabled());

        var tee = _store.AddFromDirectory(Path.Combine(Samples.Directory, "tee"));
        Assert.False(tee.Enabled);
        _store.Tag("tee", ["edge", "text"]);
        Assert.Equal(["samples", "sh", "edge", "text"], _store.Find("tee").Tags);

        var byTag = await _store.EnableAsync("tag:edge", CancellationToken.None);
        Assert.Equal("tee", Assert.Single(byTag).Manifest.Name);
        Assert.Equal(2, _store.ListEnabled().Count);

        // Disabling the id leaves it enabled by the tag rule, and says so.
        Assert.Equal(["tag:edge"], _store.Disable("tee"));
        Assert.Empty(_store.Disable("tag:edge"));
        Assert.Empty(_store.Disable(Samples.UpperId));
        Assert.Empty(_store.ListEnabled());
        Assert.Equal(2, _store.List().Count);
    }

    [Fact]
    public void Uninstall_deletes_and_forgets()
    {
        _store.Initialize();
        var tee = _store.AddFromDirectory(Path.Combine(Samples.Directory, "tee"));
        _store.Tag("tee", ["x"]);

        _store.Uninstall("tee");

        Assert.False(Directory.Exists(tee.Directory));
        Assert.Empty(_store.List());
        Assert.Empty(_store.LoadConfig().Tags);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<TrellisException>(() => _store.Uninstall("tee")).Kind);
    }

    [Fact]
    public void A_broken_activity_is_reported_and_does_not_hide_the_others()
    {
        _store.Initialize();
        _store.AddFromDirectory(Path.Combine(Samples.Directory, "tee"));
        var broken = Path.Combine(_store.ActivitiesDirectory, Guid.NewGuid().ToString());
        Directory.CreateDirectory(broken);
        File.WriteAllText(Path.Combine(broken, "activity.json"), """{"name":"x","entry":["sh"]}""");

        var problems = new List<string>();
        var list = _store.List(problems);

        Assert.Single(list);
        Assert.Contains("'id' is missing", Assert.Single(problems));
    }

    [Fact]
    public void A_bad_config_is_refused_naming_the_field()
    {
        _store.Initialize();
        File.WriteAllText(_store.ConfigPath, new JsonObject { ["repositories"] = "one" }.ToJsonString());

        var e = Assert.Throws<TrellisException>(() => _store.LoadConfig());

        Assert.Contains("'repositories' must be an array", e.Message);
    }
}
