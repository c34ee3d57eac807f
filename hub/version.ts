/** The JupyterHub REST API version LabHub speaks (sent as X-JupyterHub-Version and by GET /hub/api). */
export const JUPYTERHUB_API_VERSION = '5.4.0';
