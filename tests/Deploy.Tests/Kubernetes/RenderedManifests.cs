using System.Text.Json.Nodes;
using Trellis.Deploy.Tests.Internal;

namespace Trellis.Deploy.Tests.Kubernetes;

/// <summary>deploy/k8s rendered once with <c>kubectl kustomize</c> and checked against the bundled Kubernetes schemas,
/// with the documented Secret (deploy/k8s/secret.example.yaml) beside it.</summary>
public sealed class RenderedManifests : IAsyncLifetime
{
    public static string Directory => Repository.PathOf("deploy", "k8s");

    public string Yaml { get; private set; } = "";

    public IReadOnlyList<JsonObject> Objects { get; private set; } = [];

    public IReadOnlyList<string> SchemaErrors { get; private set; } = [];

    public JsonObject Secret { get; private set; } = new();

    public IReadOnlyList<string> SecretSchemaErrors { get; private set; } = [];

    public IEnumerable<JsonObject> Workloads => Objects.Where(o => (string?)o["kind"] is "Deployment" or "StatefulSet");

    public IEnumerable<JsonObject> OfKind(string kind) => Objects.Where(o => (string?)o["kind"] == kind);

    public async ValueTask InitializeAsync()
    {
        Yaml = await Tools.KustomizeAsync(Directory);
        var (objects, errors) = await Tools.ValidateAsync(Yaml);
        Objects = [.. objects.Select(o => o!.AsObject())];
        SchemaErrors = errors;
        var (secret, secretErrors) = await Tools.ValidateAsync(await File.ReadAllTextAsync(Path.Combine(Directory, "secret.example.yaml")));
        Secret = Assert.Single(secret)!.AsObject();
        SecretSchemaErrors = secretErrors;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>"Kind/name", for messages.</summary>
    public static string NameOf(JsonNode o) => $"{o["kind"]}/{o["metadata"]?["name"]}";

    public static JsonObject PodSpec(JsonObject workload) => workload["spec"]!["template"]!["spec"]!.AsObject();

    public static JsonObject PodLabels(JsonObject workload) => workload["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();

    public static IEnumerable<JsonObject> Containers(JsonObject workload) => PodSpec(workload)["containers"]!.AsArray().Select(c => c!.AsObject());

    /// <summary>Whether every label of <paramref name="selector"/> is on <paramref name="labels"/>.</summary>
    public static bool Selects(JsonObject? selector, JsonObject labels) =>
        selector is { Count: > 0 } && selector.All(p => (string?)labels[p.Key] == (string?)p.Value);
}
