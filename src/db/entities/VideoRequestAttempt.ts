import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** Mapping of `video_request_attempts`, the write-ahead log of paid submits (schema owned by the migrations). */
@Entity({ name: 'video_request_attempts', synchronize: false })
export class VideoRequestAttempt {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column({ name: 'request_id', type: 'uuid' }) requestId!: string;
  @Column({ type: 'integer' }) attempt!: number;
  @Column({ name: 'output_prefix', type: 'text' }) outputPrefix!: string;
  @Column({ type: 'text', default: 'submitting' }) state!: string;
  @Column({ name: 'operation_name', type: 'text', nullable: true }) operationName!: string | null;
  @Column({ type: 'text', nullable: true }) error!: string | null;
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' }) createdAt!: Date;
  @Column({ name: 'accepted_at', type: 'timestamptz', nullable: true }) acceptedAt!: Date | null;
  @Column({ name: 'answered_at', type: 'timestamptz', nullable: true }) answeredAt!: Date | null;
  @Column({ name: 'throttled_until', type: 'timestamptz', nullable: true }) throttledUntil!: Date | null;
}
