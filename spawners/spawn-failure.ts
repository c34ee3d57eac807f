/**
 * What a spawner throws when it cannot start a server. `reason` classifies the failure
 * (image, capacity, command, exited, timeout, ...); the hub turns it into a SpawnError whose
 * message reaches the progress stream and the error page. Spawners do not import hub code.
 */
export class SpawnFailure extends Error {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'SpawnFailure';
  }
}
