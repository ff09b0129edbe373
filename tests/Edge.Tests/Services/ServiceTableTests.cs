using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Edge.Local;
using Trellis.Edge.Services;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Services;

public sealed class ServiceTableTests
{
    [Fact]
    public void Published_services_survive_a_new_instance_on_the_same_work_dir()
    {
        using var home = new TempFolder();
        var table = new ServiceTable(home.Path, NullLogger.Instance);
        var changes = 0;
        table.Changed += () => changes++;
        var echo = table.Publish(new LocalService("godevsig", "echo", "http://127.0.0.1:8080/echo", Scope.None));
        table.Publish(new LocalService("godevsig", "time", "http://0.0.0.0:8081/", Scope.OS | Scope.Lan));
        table.Publish(new LocalService("acme", "echo", "http://localhost:9000/", Scope.Wan));
        Assert.True(table.Unpublish("acme", "echo"));
        Assert.False(table.Unpublish("acme", "echo"));
        Assert.Equal(4, changes);
        Assert.Equal(Scope.OS | Scope.Lan | Scope.Wan, echo.Scopes);

        var again = new ServiceTable(home.Path, NullLogger.Instance);
        Assert.Equal(table.Published, again.Published);
        Assert.Equal(Scope.OS | Scope.Lan, again.Find("godevsig", "time")!.Scopes);
        Assert.Null(again.Find("acme", "echo"));
        Assert.Equal([ServiceTable.FileName], Directory.GetFiles(home.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_taken_name_is_409_and_bad_input_is_400_naming_the_problem()
    {
        using var home = new TempFolder();
        var table = new ServiceTable(home.Path, NullLogger.Instance);
        table.Publish(new LocalService("p", "s", "http://127.0.0.1:1/", Scope.OS));

        var taken = Assert.Throws<LocalApiException>(() => table.Publish(new LocalService("p", "s", "http://127.0.0.1:2/", Scope.OS)));
        Assert.Equal(409, taken.Status);
        Assert.Contains("p/s", taken.Message);

        Assert.Contains("url", Assert.Throws<LocalApiException>(() => table.Publish(new LocalService("p", "t", "https://x/", Scope.OS))).Message);
        Assert.Contains("url", Assert.Throws<LocalApiException>(() => table.Publish(new LocalService("p", "t", "/relative", Scope.OS))).Message);
        Assert.StartsWith("publisher", Assert.Throws<LocalApiException>(() => table.Publish(new LocalService("p_x", "t", "http://h/", Scope.OS))).Message);
        Assert.StartsWith("service", Assert.Throws<LocalApiException>(() => table.Publish(new LocalService("p", "t*", "http://h/", Scope.OS))).Message);
        Assert.Single(table.Published);
    }

    [Fact]
    public void An_unreadable_file_starts_empty_and_skips_bad_entries_without_failing()
    {
        using var home = new TempFolder();
        File.WriteAllText(home.File(ServiceTable.FileName), "{ not json");
        Assert.Empty(new ServiceTable(home.Path, NullLogger.Instance).Published);

        File.WriteAllText(home.File(ServiceTable.FileName), """
            {"version":1,"services":[
              {"publisher":"ok","service":"one","url":"http://h:1/","scopes":["os"]},
              {"publisher":"bad_name","service":"x","url":"http://h:1/","scopes":["os"]},
              {"publisher":"ok","service":"two","url":"ftp://h/","scopes":["os"]},
              {"publisher":"ok","service":"three","url":"http://h:1/","scopes":["moon"]},
              42
            ]}
            """);
        var table = new ServiceTable(home.Path, NullLogger.Instance);
        Assert.Equal("one", Assert.Single(table.Published).Service);
    }
}
