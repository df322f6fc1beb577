"""Command profiles: one TOML file per kind of equipment (format wsctl-profile/1).

`loader.parse_profile(text, source=...)` gives a checked `model.Profile`;
`codec.ClientCodec` frames commands and matches replies (the tool's side),
returning the `events.CodecEvent` types;
`device.DeviceCodec` reads requests and writes replies (the simulator's side).
"""
