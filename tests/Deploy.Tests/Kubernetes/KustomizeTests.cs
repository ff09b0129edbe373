using System.Text.Json.Nodes;
using Trellis.Deploy.Tests.Internal;

namespace Trellis.Deploy.Tests.Kubernetes;

/// <summary>deploy/k8s renders with <c>kubectl kustomize</c>, every object is valid against the Kubernetes schemas
/// (offline), and the objects refer to each other correctly.</summary>
public sealed class KustomizeTests(RenderedManifests manifests) : IClassFixture<RenderedManifests>
{
    [Fact]
    public void RendersTheRolesWithoutANamespace()
    {
        var kinds = manifests.Objects.Select(RenderedManifests.NameOf).ToList();

        Assert.Contains("StatefulSet/trellis-silo", kinds);
        Assert.Contains("Deployment/trellis-gateway", kinds);
        Assert.Contains("Service/trellis-silo", kinds);
        Assert.Contains("Service/trellis-gateway", kinds);
        Assert.Single(manifests.OfKind("ConfigMap"));
        Assert.DoesNotContain(manifests.Objects, o => (string?)o["kind"] == "Namespace" || o["metadata"]?["namespace"] is not null);
        Assert.DoesNotContain(manifests.Objects, o => (string?)o["kind"] == "Secret");
    }

    [Fact]
    public void EveryObjectIsValidAgainstItsSchema()
    {
        Assert.True(manifests.SchemaErrors.Count == 0, "schema errors:\n" + string.Join('\n', manifests.SchemaErrors));
        Assert.True(manifests.SecretSchemaErrors.Count == 0, "secret.example.yaml:\n" + string.Join('\n', manifests.SecretSchemaErrors));
    }

    [Fact]
    public async Task ABrokenObjectIsRejectedNamingIt()
    {
        var gateway = manifests.OfKind("Deployment").Single().DeepClone().AsObject();
        var container = gateway["spec"]!["template"]!["spec"]!["containers"]![0]!.AsObject();
        container["ports"]![0]!["containerPort"] = "http";
        container.Remove("name");
        var unknownKind = new JsonObject { ["apiVersion"] = "apps/v1", ["kind"] = "NoSuchKind", ["metadata"] = new JsonObject { ["name"] = "x" } };

        // JSON is YAML: the two objects as two documents.
        var (_, errors) = await Tools.ValidateAsync($"{gateway.ToJsonString()}\n---\n{unknownKind.ToJsonString()}\n");

        Assert.Contains(errors, e => e.StartsWith("Deployment/trellis-gateway:", StringComparison.Ordinal) && e.Contains("containerPort", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("NoSuchKind/x:", StringComparison.Ordinal));
    }

    [Fact]
    public void EveryServiceSelectsAWorkloadAndItsPorts()
    {
        foreach (var service in manifests.OfKind("Service"))
        {
            var name = RenderedManifests.NameOf(service);
            var selector = service["spec"]!["selector"]?.AsObject();
            var workloads = manifests.Workloads.Where(w => RenderedManifests.Selects(selector, RenderedManifests.PodLabels(w))).ToList();
            Assert.True(workloads.Count > 0, $"{name}: its selector matches no workload's pod labels");
            var ports = workloads.SelectMany(RenderedManifests.Containers).SelectMany(ContainerPorts).ToHashSet();
            foreach (var port in service["spec"]!["ports"]!.AsArray())
            {
                var target = (port!["targetPort"] ?? port["port"])!.ToString();
                Assert.True(ports.Contains(target), $"{name}: targetPort {target} is no port of its pods ({string.Join(", ", ports)})");
            }
        }
    }

    [Fact]
    public void EveryWorkloadSelectsItsPodsAndHasADisruptionBudget()
    {
        foreach (var workload in manifests.Workloads)
        {
            var name = RenderedManifests.NameOf(workload);
            var labels = RenderedManifests.PodLabels(workload);
            Assert.True(RenderedManifests.Selects(workload["spec"]!["selector"]!["matchLabels"]?.AsObject(), labels), $"{name}: its selector does not match its pod template");
            var budgets = manifests.OfKind("PodDisruptionBudget")
                .Where(p => RenderedManifests.Selects(p["spec"]!["selector"]!["matchLabels"]?.AsObject(), labels)).ToList();
            Assert.True(budgets.Count == 1, $"{name}: {budgets.Count} PodDisruptionBudgets select its pods, not 1");
        }
    }

    [Fact]
    public void ProbesUseTheHealthEndpointsOnTheContainersPorts()
    {
        foreach (var workload in manifests.Workloads)
        {
            foreach (var container in RenderedManifests.Containers(workload))
            {
                var name = $"{RenderedManifests.NameOf(workload)} container {container["name"]}";
                var ports = ContainerPorts(container).ToHashSet();
                Assert.Equal("/healthz", (string?)container["livenessProbe"]?["httpGet"]?["path"]);
                Assert.Equal("/readyz", (string?)container["readinessProbe"]?["httpGet"]?["path"]);
                foreach (var probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
                {
                    if (container[probe]?["httpGet"]?["port"] is { } port)
                    {
                        Assert.True(ports.Contains(port.ToString()), $"{name}: {probe} uses port {port}, which the container does not declare");
                    }
                }

                foreach (var kind in new[] { "requests", "limits" })
                {
                    var resources = container["resources"]?[kind];
                    Assert.True(resources?["cpu"] is not null && resources["memory"] is not null, $"{name}: no cpu and memory {kind}");
                }
            }
        }
    }

    [Fact]
    public void EnvironmentFromConfigMapsAndSecretsNamesKeysThatExist()
    {
        var configMaps = manifests.OfKind("ConfigMap").ToDictionary(c => (string)c["metadata"]!["name"]!, c => Keys(c["data"]));
        var secrets = new Dictionary<string, HashSet<string>>
        {
            [(string)manifests.Secret["metadata"]!["name"]!] = Keys(manifests.Secret["stringData"] ?? manifests.Secret["data"]),
        };
        var problems = new List<string>();
        foreach (var workload in manifests.Workloads)
        {
            foreach (var container in RenderedManifests.Containers(workload))
            {
                var where = $"{RenderedManifests.NameOf(workload)} container {container["name"]}";
                foreach (var from in container["envFrom"]?.AsArray() ?? [])
                {
                    Check(from!["configMapRef"], null, configMaps, "ConfigMap", where);
                    Check(from["secretRef"], null, secrets, "Secret", where);
                }

                foreach (var env in container["env"]?.AsArray() ?? [])
                {
                    var source = env!["valueFrom"];
                    Check(source?["configMapKeyRef"], (string?)source?["configMapKeyRef"]?["key"], configMaps, "ConfigMap", $"{where} env {env["name"]}");
                    Check(source?["secretKeyRef"], (string?)source?["secretKeyRef"]?["key"], secrets, "Secret", $"{where} env {env["name"]}");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));

        void Check(JsonNode? reference, string? key, Dictionary<string, HashSet<string>> known, string kind, string where)
        {
            if (reference is null || (bool?)reference["optional"] == true)
            {
                return;
            }

            var name = (string?)reference["name"] ?? "";
            if (!known.TryGetValue(name, out var keys))
            {
                problems.Add($"{where}: {kind} {name} does not exist (known: {string.Join(", ", known.Keys)})");
            }
            else if (key is not null && !keys.Contains(key))
            {
                problems.Add($"{where}: {kind} {name} has no key {key} ({string.Join(", ", keys)})");
            }
        }
    }

    [Fact]
    public void EveryTrellisVariableIsADocumentedSetting()
    {
        var unknown = new List<string>();
        var variables = manifests.OfKind("ConfigMap").SelectMany(c => Keys(c["data"]).Select(k => (Where: RenderedManifests.NameOf(c), Name: k)))
            .Concat(manifests.Workloads.SelectMany(RenderedManifests.Containers).SelectMany(c =>
                (c["env"]?.AsArray() ?? []).Select(e => (Where: $"container {c["name"]}", Name: (string)e!["name"]!))))
            .ToList();
        foreach (var (where, name) in variables)
        {
            if (SettingsTable.KeyOfVariable(name) is { } key && !SettingsTable.Exists(key))
            {
                unknown.Add($"{where}: {name} ({key})");
            }
        }

        foreach (var container in manifests.Workloads.SelectMany(RenderedManifests.Containers))
        {
            foreach (var arg in (container["args"]?.AsArray() ?? []).Concat(container["command"]?.AsArray() ?? []))
            {
                if (SettingsTable.KeyOfArgument((string)arg!) is { } key && !SettingsTable.Exists(key))
                {
                    unknown.Add($"container {container["name"]}: {arg}");
                }
            }
        }

        Assert.Contains(variables, v => v.Name.StartsWith("Trellis__", StringComparison.Ordinal));
        Assert.True(unknown.Count == 0, "settings missing from README.md's Configuration table:\n" + string.Join('\n', unknown));
    }

    [Fact]
    public void TheProcessesJoinOnePostgresClusterOverRabbitMqAndListenOnThePod()
    {
        var common = Assert.Single(manifests.OfKind("ConfigMap"))["data"]!;
        Assert.Equal("Postgres", (string?)common["Trellis__Cluster__Provider"]);
        Assert.Equal("RabbitMq", (string?)common["Trellis__Transport__Provider"]);
        Assert.StartsWith("http://0.0.0.0:", (string?)common["Trellis__Http__Url"]);
        Assert.StartsWith("http://0.0.0.0:", (string?)common["Trellis__Grpc__Url"]);

        var dockerfile = Dockerfile.Load();
        foreach (var workload in manifests.Workloads)
        {
            foreach (var container in RenderedManifests.Containers(workload))
            {
                var name = $"{RenderedManifests.NameOf(workload)} container {container["name"]}";
                var env = (container["env"]?.AsArray() ?? []).ToDictionary(e => (string)e!["name"]!, e => e!);
                Assert.True(env.ContainsKey("Trellis__Storage__Postgres__ConnectionString"), $"{name}: no PostgreSQL connection string");
                Assert.True(env.ContainsKey("Trellis__Transport__RabbitMq__Uri"), $"{name}: no RabbitMQ URI");
                Assert.StartsWith("trellis:", (string?)container["image"]);
                var assembly = (string?)container["args"]?[0];
                Assert.True(assembly is not null && dockerfile.Assemblies.Contains(assembly), $"{name}: runs {assembly}, which deploy/Dockerfile does not publish");
            }
        }

        var silo = Assert.Single(RenderedManifests.Containers(manifests.OfKind("StatefulSet").Single()));
        var advertised = silo["env"]!.AsArray().Single(e => (string?)e!["name"] == "Trellis__Cluster__AdvertisedAddress")!;
        var podIp = (string)advertised["value"]!;
        Assert.Equal("$(POD_IP)", podIp);
        Assert.Equal("status.podIP", (string?)silo["env"]!.AsArray().Single(e => (string?)e!["name"] == "POD_IP")!["valueFrom"]!["fieldRef"]!["fieldPath"]);
    }

    private static IEnumerable<string> ContainerPorts(JsonObject container) =>
        (container["ports"]?.AsArray() ?? []).SelectMany(p => new[] { (string?)p!["name"], p["containerPort"]!.ToString() }).OfType<string>();

    private static HashSet<string> Keys(JsonNode? data) => data is JsonObject map ? [.. map.Select(p => p.Key)] : [];
}
