/* A C host of the Livestage ABI, compiled by tests/ffi_c.rs against ffi/include/livestage.h.
 *
 *   join SERVER CERT_PEM_FILE TOKEN PUBLISHER SECONDS
 *
 * Pins the server's certificate by its SHA-256 fingerprint, joins as audience, then for up to
 * SECONDS (or until it has enough) polls events, fetches PUBLISHER's newest picture, reads its
 * burned-in stamp and pulls mixed voice. Bad input along the way must be refused with the
 * documented codes. Prints `key=value` lines; the last is `ok` when everything held. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "livestage.h"

static int failures = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "check failed (line %d): ", __LINE__);         \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static const char *last_error(void) {
    static char message[1024];
    livestage_last_error(message, sizeof message);
    return message;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    if (text && fread(text, 1, (size_t)len, f) != (size_t)len) {
        free(text);
        text = NULL;
    }
    if (text) text[len] = '\0';
    fclose(f);
    return text;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s SERVER CERT_PEM_FILE TOKEN PUBLISHER SECONDS\n", argv[0]);
        return 2;
    }
    const char *server = argv[1], *token = argv[3], *publisher = argv[4];
    double seconds = atof(argv[5]);
    char *pem = read_file(argv[2]);
    if (!pem) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 2;
    }

    /* The fingerprint: first ask for the size, then fetch it. */
    size_t size = 0;
    int rc = livestage_cert_fingerprint(pem, NULL, 0, &size);
    CHECK(rc == LIVESTAGE_ERR_BUFFER_TOO_SMALL && size == 72, "fingerprint size %d %zu", rc, size);
    char fingerprint[72];
    rc = livestage_cert_fingerprint(pem, fingerprint, sizeof fingerprint, &size);
    CHECK(rc == LIVESTAGE_OK, "fingerprint: %s", last_error());
    CHECK(livestage_cert_fingerprint("not pem", fingerprint, sizeof fingerprint, NULL) ==
              LIVESTAGE_ERR_ARGUMENT,
          "junk PEM is refused");
    printf("fingerprint=%s\n", fingerprint);

    CHECK(livestage_engine_new(1000, 2, 0) == LIVESTAGE_ERR_ARGUMENT, "1 kHz is refused");
    int64_t engine = livestage_engine_new(48000, 2, 0);
    CHECK(engine > 0, "engine: %s", last_error());

    /* Bad input before joining. */
    CHECK(livestage_join(engine, NULL, fingerprint, token, NULL, LIVESTAGE_ROLE_AUDIENCE, NULL) ==
              LIVESTAGE_ERR_NULL,
          "null server");
    CHECK(livestage_join(engine, server, "sha256:12", token, NULL, LIVESTAGE_ROLE_AUDIENCE,
                         NULL) == LIVESTAGE_ERR_ARGUMENT,
          "short fingerprint");
    CHECK(livestage_join(engine, server, fingerprint, token, NULL, 7, NULL) ==
              LIVESTAGE_ERR_ARGUMENT,
          "unknown role");
    CHECK(livestage_join(engine + 1, server, fingerprint, token, NULL, LIVESTAGE_ROLE_AUDIENCE,
                         NULL) == LIVESTAGE_ERR_HANDLE,
          "unknown handle");
    CHECK(livestage_send_data(engine, "show", (const uint8_t *)"x", 1, NULL) ==
              LIVESTAGE_ERR_NOT_JOINED,
          "data before join");

    rc = livestage_join(engine, server, fingerprint, token, NULL, LIVESTAGE_ROLE_AUDIENCE, NULL);
    CHECK(rc == LIVESTAGE_OK, "join: %s", last_error());

    char channel[80] = "";
    int joined = 0, data = 0, frames = 0, stamped = 0, tiny_refused = 0;
    long voiced = 0, audible = 0;
    uint64_t seq = 0;
    LivestageFrame info;
    uint8_t *pixels = NULL;
    size_t capacity = 0;
    float voice[2 * 960];
    char json[8192];
    for (int tick = 0; tick < (int)(seconds * 100); tick++) {
        /* Events: the first one into a buffer too small for it, to see it kept. */
        char tiny[4];
        while (1) {
            rc = livestage_poll_event(engine, tiny_refused ? json : tiny,
                                      tiny_refused ? sizeof json : sizeof tiny, &size);
            if (rc == LIVESTAGE_ERR_BUFFER_TOO_SMALL && !tiny_refused) {
                CHECK(size > sizeof tiny, "size needed %zu", size);
                tiny_refused = 1;
                continue;
            }
            CHECK(rc >= 0, "poll: %s", last_error());
            if (rc != 1) break;
            if (strstr(json, "\"type\":\"joined\"")) {
                joined = 1;
                const char *at = strstr(json, "\"channel\":\"");
                if (at) sscanf(at + 11, "%79[^\"]", channel);
                printf("joined channel=%s\n", channel);
                fflush(stdout);
            }
            if (strstr(json, "\"type\":\"data\"")) data++;
            if (strstr(json, "\"type\":\"state\"") && strstr(json, "disconnected")) {
                printf("event=%s\n", json);
            }
        }
        if (joined) {
            /* The newest picture: ask for the size with no buffer, then copy. */
            rc = livestage_video_frame(engine, channel, publisher, seq, 0, pixels, capacity,
                                       &info);
            if (rc == LIVESTAGE_ERR_BUFFER_TOO_SMALL) {
                capacity = (size_t)info.size;
                pixels = realloc(pixels, capacity);
                rc = livestage_video_frame(engine, channel, publisher, seq, 0, pixels, capacity,
                                           &info);
            }
            CHECK(rc >= 0 || rc == LIVESTAGE_ERR_NOT_FOUND, "frame: %d %s", rc, last_error());
            if (rc == 1) {
                CHECK(info.seq > seq, "seq grows");
                seq = info.seq;
                frames++;
                LivestageStamp stamp;
                if (livestage_read_stamp(pixels, (size_t)info.size, info.width, info.height, 0,
                                         &stamp) == 1) {
                    stamped++;
                }
                /* Asking again with the same seq copies nothing. */
                CHECK(livestage_video_frame(engine, channel, publisher, seq, 0, pixels, capacity,
                                            &info) == 0 || info.seq != seq,
                      "no copy without a newer picture");
            }
            int got = livestage_audio_read(engine, voice, 2 * 480, 2);
            CHECK(got >= 0, "audio: %s", last_error());
            voiced += got;
            for (int i = 0; i < got; i++) {
                if (voice[i] > 0.05f || voice[i] < -0.05f) audible++;
            }
        }
        if (joined && data >= 5 && stamped >= 10 && audible > 48000) break;
        sleep_ms(10);
    }

    /* Bad input while joined. */
    CHECK(livestage_video_frame(engine, channel, "nobody", 0, 0, NULL, 0, &info) ==
              LIVESTAGE_ERR_NOT_FOUND,
          "unknown user");
    CHECK(livestage_video_frame(engine, channel, publisher, 0, 0, NULL, 0, NULL) ==
              LIVESTAGE_ERR_NULL,
          "null info");
    CHECK(livestage_video_push(engine, channel, pixels, 16, 2, 2, 0) == LIVESTAGE_ERR_ARGUMENT,
          "odd tiny frame");
    CHECK(livestage_audio_read(engine, voice, 3, 2) == LIVESTAGE_ERR_ARGUMENT, "half a frame");
    uint8_t big[5000] = {0};
    CHECK(livestage_send_data(engine, channel, big, sizeof big, NULL) == LIVESTAGE_ERR_ARGUMENT,
          "data over 4096 bytes");

    CHECK(livestage_leave(engine, channel) == LIVESTAGE_OK, "leave: %s", last_error());
    CHECK(livestage_send_data(engine, channel, (const uint8_t *)"x", 1, NULL) ==
              LIVESTAGE_ERR_NOT_JOINED,
          "data after leave");
    CHECK(strstr(last_error(), "not joined") != NULL, "message: %s", last_error());
    CHECK(livestage_engine_free(engine) == LIVESTAGE_OK, "free");
    CHECK(livestage_engine_free(engine) == LIVESTAGE_ERR_HANDLE, "double free");
    CHECK(livestage_audio_read(engine, voice, 2, 2) == LIVESTAGE_ERR_HANDLE, "read after free");

    printf("joined=%d\ndata=%d\nframes=%d\nstamped=%d\nwidth=%u\nheight=%u\nvoiced=%ld\n"
           "audible=%ld\n",
           joined, data, frames, stamped, info.width, info.height, voiced, audible);
    printf("%s\n", failures == 0 ? "ok" : "FAILED");
    free(pixels);
    free(pem);
    return failures == 0 ? 0 : 1;
}
