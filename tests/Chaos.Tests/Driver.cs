using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;

namespace Trellis.Chaos.Tests;

/// <summary>Sends requests to the silos' HTTP APIs, retrying with the same body (and so the same id) on the next silo
/// after a failure or timeout, until one answers 2xx.</summary>
internal sealed class Driver(HttpClient http, IReadOnlyList<SiloPorts> silos, TimeSpan attemptTimeout, TimeSpan giveUpAfter)
{
    private long _attempts;
    private long _retries;
    private int _next;
    private readonly ConcurrentDictionary<string, int> _failures = new();

    public long Attempts => Interlocked.Read(ref _attempts);

    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Why attempts failed, most common first.</summary>
    public string Failures => _failures.IsEmpty ? "none" : string.Join(", ", _failures.OrderByDescending(p => p.Value).Take(6).Select(p => $"{p.Value} {p.Key}"));

    /// <summary>Whether the silo says it is ready: its bus is up and it is an active member of the cluster.</summary>
    public async Task<bool> ReadyAsync(SiloPorts silo)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            using var response = await http.GetAsync($"http://127.0.0.1:{silo.Http}/readyz", cts.Token);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>POSTs <paramref name="body"/> to <paramref name="path"/> until a silo acknowledges it; a 4xx other than
    /// 408 and 429 is a refusal that retrying would not change, and fails.</summary>
    public async Task<Acked> UntilOkAsync(string path, object body)
    {
        var giveUp = DateTimeOffset.UtcNow + giveUpAfter;
        var first = Interlocked.Increment(ref _next);
        var firstSentAt = Now();
        for (var attempt = 0; ; attempt++)
        {
            var silo = silos[(int)((uint)(first + attempt) % (uint)silos.Count)];
            Interlocked.Increment(ref _attempts);
            if (attempt > 0)
            {
                Interlocked.Increment(ref _retries);
            }

            var sentAt = Now();
            string why;
            try
            {
                using var cts = new CancellationTokenSource(attemptTimeout);
                using var response = await http.PostAsJsonAsync($"http://127.0.0.1:{silo.Http}{path}", body, cts.Token);
                var text = await response.Content.ReadAsStringAsync(cts.Token);
                if (response.IsSuccessStatusCode)
                {
                    return new Acked(JsonDocument.Parse(text).RootElement.Clone(), firstSentAt, sentAt, Now(), attempt + 1);
                }

                if ((int)response.StatusCode is >= 400 and < 500 and not 408 and not 429)
                {
                    throw new InvalidOperationException($"POST {path} {JsonSerializer.Serialize(body)}: {(int)response.StatusCode} {text}");
                }

                why = $"HTTP {(int)response.StatusCode}";
            }
            catch (OperationCanceledException)
            {
                why = "timeouts";
            }
            catch (HttpRequestException e)
            {
                why = e.HttpRequestError == HttpRequestError.ConnectionError ? "connection errors" : $"{e.HttpRequestError}";
            }

            _failures.AddOrUpdate(why, 1, static (_, n) => n + 1);
            if (DateTimeOffset.UtcNow > giveUp)
            {
                throw new TimeoutException($"POST {path} {JsonSerializer.Serialize(body)}: no success after {attempt + 1} attempts in {giveUpAfter.TotalSeconds} s; last: {why}");
            }

            await Task.Delay(Math.Min(50 * (attempt + 1), 250));
        }
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>An acknowledged request: its reply, when its first and its successful attempt were sent and when the
    /// reply came (unix ms), and how many attempts it took.</summary>
    public sealed record Acked(JsonElement Body, long FirstSentAt, long SentAt, long At, int Attempts)
    {
        public bool Duplicate => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("duplicate", out var d) && d.ValueKind == JsonValueKind.True;
    }
}
