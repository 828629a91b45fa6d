// What a renderer throws when a plan cannot be written as its target (bwrap argv, systemd unit): its own file, so that
// the systemd renderers and their readers get it without bwrap's renderer and the seccomp tables behind it.
export class RenderError extends Error {}
