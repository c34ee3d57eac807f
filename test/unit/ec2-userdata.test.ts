/**
 * The EC2 user-data as real VMs would get it (default mount script included): valid MIME multipart,
 * bash that parses, Python that compiles, no secret, and shell-safe quoting of odd values.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildUserData, ec2Failure } from '../../spawners/ec2.js';
import { Ec2SpawnerSchema } from '../../spawners/ec2-options.js';
import { shellPart } from '../fakes/fake-ec2/server.js';

const opts = Ec2SpawnerSchema.parse({
  kind: 'ec2',
  persistence: 'terminate',
  environment: { COURSE: "it's \"quoted\" $HOME" },
  homeDir: "/home/{serverUser}/o'brien",
  profiles: { course: { imageId: 'ami-1', instanceType: 't3.micro' } },
});

describe('ec2 user-data', () => {
  const ud = buildUserData({ bootstrapUrl: 'http://10.0.0.10:8081/hub/api/bootstrap/abc123', opts, user: 'alice', volume: { volumeId: 'vol-0123456789abcdef0' } });
  const dir = mkdtempSync(join(tmpdir(), 'labhub-ud-'));

  it('is MIME multipart with cloud-config (run every boot) and a bash script', () => {
    expect(ud).toMatch(/^Content-Type: multipart\/mixed; boundary="\/\/LABHUB-BOUNDARY"/);
    expect(ud).toContain('- [scripts-user, always]');
    expect(shellPart(ud)!.startsWith('#!/bin/bash')).toBe(true);
    expect(ud).not.toMatch(/JUPYTERHUB_API_TOKEN\s*=|token-value/);
  });

  it('bash parses (bash -n) with the default volume mount script; the embedded Python compiles', () => {
    const script = shellPart(ud)!;
    const sh = join(dir, 'ud.sh');
    writeFileSync(sh, script);
    execFileSync('bash', ['-n', sh]);
    expect(script).toContain('nvme-Amazon_Elastic_Block_Store_');
    expect(script).toContain("'vol-0123456789abcdef0'");
    expect(script).toContain('mkfs -t ext4');
    const py = /<<'LABHUB_PY' &\n([\s\S]*?)LABHUB_PY\n/.exec(script)![1];
    const pyFile = join(dir, 'ud.py');
    writeFileSync(pyFile, py);
    execFileSync('python3', ['-m', 'py_compile', pyFile]);
    expect(py).toContain(`EXTRA = {"COURSE":"it's \\"quoted\\" $HOME"}`);
    expect(script).toContain(`HOME_DIR='/home/ubuntu/o'\\''brien'`);
  });

  it('maps EC2 error codes to spawn failure reasons', () => {
    const e = (name: string) => Object.assign(new Error(`msg for ${name}`), { name });
    expect(ec2Failure(e('InsufficientInstanceCapacity'), 'x').reason).toBe('capacity');
    expect(ec2Failure(e('VcpuLimitExceeded'), 'x').reason).toBe('capacity');
    expect(ec2Failure(e('UnauthorizedOperation'), 'x').reason).toBe('permission');
    expect(ec2Failure(e('AuthFailure'), 'x').reason).toBe('permission');
    expect(ec2Failure(e('RequestLimitExceeded'), 'x').reason).toBe('throttled');
    expect(ec2Failure(e('InvalidAMIID.NotFound'), 'x').reason).toBe('config');
    expect(ec2Failure(e('InternalError'), 'x').reason).toBe('ec2');
  });
});
